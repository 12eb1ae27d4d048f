"""What the command runner counts, for /metrics: commands by use case and outcome, how long each
took from the caller's side, and how many commands each transaction saved."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from commands.errors import DATABASE_DOWN, DatabaseUnavailable, Overloaded
from domain.errors import DomainError, VersionConflict

# Labelled metrics make their values at first use, after the process chose how metrics are kept
# (one process, or several API processes sharing a directory: workers/metrics.py).
COMMANDS = Counter("docket_commands", "Commands by use case and outcome", ["command", "outcome"])
LATENCY = Histogram(
    "docket_command_seconds",
    "Time from a command's call to its answer, its commit included",
    ["command"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCHES = Histogram(
    "docket_commit_batch_size",
    "Commands saved by one transaction (together), or one at a time after their batch could not be (alone)",
    ["mode"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, VersionConflict):
        return "conflict"
    if isinstance(error, DomainError):
        return "refused"
    if isinstance(error, Overloaded):
        return "overloaded"
    if isinstance(error, (DatabaseUnavailable, *DATABASE_DOWN)):
        return "unavailable"
    return "error"


def observe_command(command: str, error: BaseException | None, seconds: float) -> None:
    COMMANDS.labels(command, outcome_of(error)).inc()
    LATENCY.labels(command).observe(seconds)


def observe_batch(size: int, mode: str) -> None:
    BATCHES.labels(mode).observe(size)
