"""Read your own writes: a read given `after=<notification id>` (or the header `Docket-After`)
answers only once the read models it reads have applied that event.

Every command answers with the notification id of its event (and the header `Docket-Position`).
The read models are projections that follow the event store a moment behind; a client that must
see its own write passes the id on and the read waits for it, up to `read_wait` seconds, then
answers 503 with Retry-After. The wait asks PostgreSQL (the projections' tracking tables), so it
holds whichever process runs the projector.

A projection has applied event N when its tracked position is N or later, or when no event it
applies lies between its position and N: its position moves only with events of its own topics.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar import Request, Response
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.errors import error_response
from api.services import Services
from commands.app import Docket
from projections.operations import PROJECTIONS
from projections.row_security import as_docket

AFTER = "after"
AFTER_HEADER = "Docket-After"
POSITION_HEADER = "Docket-Position"
MAX_NOTIFICATION_ID = 2**63 - 1
FIRST_POLL, LAST_POLL = 0.002, 0.025  # seconds between looks, doubling: a projection is usually a few ms behind
RETRY_AFTER = 1
DEFAULT_WAIT = 5.0

# The read models each family of reads answers from, by path prefix (the longest that matches
# wins); reads of the event store itself (audit) need none. Health, metrics and the documentation
# are not reads of the read models: they take no `after`.
READ_MODELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/api/v1/dashboard", ("dashboard",)),
    ("/api/v1/audit", ()),
    ("/api/v1/", ("tickets",)),
)


def read_models_of(path: str) -> tuple[str, ...] | None:
    """The projections a GET of this path reads; None for a path that is not a read of the API."""
    if path.startswith("/api/v1/tickets/") and path.rstrip("/").endswith("/events"):
        return ()  # a ticket's own stream, from the event store
    return next((models for prefix, models in READ_MODELS if path.startswith(prefix)), None)


def waits_on(request: Request) -> bool:
    """Whether this request is a read that takes `after` as a position to wait for (the audit
    reads take their own `after`, a cursor in the event store)."""
    return request.method == "GET" and read_models_of(request.scope["path"]) is not None and not _declares_after(request.route_handler)


@functools.cache  # a route's handler, for ever
def _declares_after(handler: Any) -> bool:
    return AFTER in handler.parsed_fn_signature.parameters


@dataclass(frozen=True)
class Position:
    notification_id: int
    named_by: str  # the query parameter or the header that gave it, to name in an error


def position_asked(request: Request) -> Position | Response:
    """The position the caller asks to read after, if any; a 400 naming what is malformed."""
    if waits_on(request) and (given := request.query_params.getall(AFTER, [])):
        if len(given) > 1:
            return error_response(400, "invalid_input", "after: give one notification id.", field=AFTER)
        return _parsed(given[0], AFTER)
    header = request.headers.get(AFTER_HEADER)
    if header is not None and request.method == "GET" and read_models_of(request.scope["path"]) is not None:
        return _parsed(header, AFTER_HEADER)
    return Position(0, AFTER)


def _parsed(value: str, named_by: str) -> Position | Response:
    value = value.strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_NOTIFICATION_ID:
        message = f"{named_by}: a notification id, a whole number from 0 (a command's notification_id), not {value[:40]!r}."
        return error_response(400, "invalid_input", message, field=named_by)
    return Position(int(value), named_by)


async def wait_for_read_models(request: Request, services: Services) -> Response | None:
    """None once the read models this read uses hold the position asked for (at once when none is);
    else a 400 for a malformed or unknown position, or a 503 with Retry-After after the bound."""
    asked = position_asked(request)
    if isinstance(asked, Response):
        return asked
    models = read_models_of(request.scope["path"]) or ()
    if asked.notification_id == 0 or not models:
        return None
    checker = Applied(services.app, services.engine, models)
    bound = read_wait_of(services)
    deadline = time.monotonic() + bound
    delay = FIRST_POLL
    while True:
        state = await anyio.to_thread.run_sync(checker.state, asked.notification_id)
        if state == "applied":
            return None
        if state == "unknown":
            message = f"{asked.named_by}: no event {asked.notification_id} has been recorded; pass the notification_id a command answered."
            return error_response(400, "unknown_position", message, field=asked.named_by)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            message = f"The read models have not yet applied event {asked.notification_id} (waited {bound:g}s); try again shortly."
            return error_response(503, "not_yet_applied", message, headers={"Retry-After": str(RETRY_AFTER)})
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, LAST_POLL)


def read_wait_of(services: Services) -> float:
    """The bound, within the request's own (api/limits.py answers every request within db_timeout
    and a little more): a longer wait would be cut there with a less telling 503."""
    return max(0.0, min(getattr(services, "read_wait", DEFAULT_WAIT), services.limits.db_timeout))


class Applied:
    """Whether the given projections have applied an event: one query for all of them."""

    def __init__(self, app: Docket, engine: Engine, projections: tuple[str, ...]) -> None:
        self.app, self.engine, self.projections = app, engine, projections

    def state(self, notification_id: int) -> str:
        """Whether the event is "applied", "pending", or "unknown" (beyond the last recorded event)."""
        quote = self.engine.dialect.identifier_preparer.quote
        events = quote(self.app.recorder.events_table_name)
        behind = " OR ".join(self._behind(i, quote(f"{name}_tracking"), events) for i, name in enumerate(self.projections))
        sql = f"SELECT (SELECT max(notification_id) FROM {events}) AS head, ({behind}) AS behind"
        params: dict[str, Any] = {"n": notification_id, "app": self.app.name}
        params.update({f"topics_{i}": list(PROJECTIONS[name].topics) for i, name in enumerate(self.projections)})
        with as_docket(), self.engine.connect() as conn:
            row = conn.execute(text(sql), params).mappings().one()
        if (row["head"] or 0) < notification_id:
            return "unknown"
        return "pending" if row["behind"] else "applied"

    @staticmethod
    def _behind(i: int, tracking: str, events: str) -> str:
        position = f"coalesce((SELECT max(notification_id) FROM {tracking} WHERE application_name = :app), 0)"
        return (
            f"EXISTS (SELECT 1 FROM {events} e WHERE e.notification_id > {position}"
            f" AND e.notification_id <= :n AND e.topic = ANY(:topics_{i}))"
        )
