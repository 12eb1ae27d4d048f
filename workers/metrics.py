"""Where a process keeps the command metrics: in memory, or, for `docket serve` and `docket api`,
in files that every API process writes and /metrics adds up (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import values


def share_metrics(directory: Path) -> str:
    """Starts the directory afresh and has this process, and the API processes it spawns (they
    inherit the environment), count into it. Call before any command runs."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # read by prometheus_client, in spawned processes too
    values.ValueClass = values.MultiProcessValue()
    return str(directory)
