"""The dashboard's figures as Server-Sent Events: sent once on connecting, then again whenever the
projector publishes new figures for the caller's tenant.

Scoped exactly as the GET endpoints of api/dashboard.py: the same query parameters, the same
scope (a ward councillor's own ward, whatever they ask) and the same query functions. The figures
in the bucket are the whole tenant's, so they only say *when* to look again (api/dashboard_feed.py).
Each event is named after its view and carries what `GET /api/v1/dashboard/<view>` would answer:

    event: metrics
    data: {"total_open": 3, ...}

Between changes a comment line every `heartbeat` seconds keeps proxies from closing the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Stream

from api.auth import token_expiry
from api.dashboard import Since, Until, scope_of
from api.dashboard_feed import DashboardFeed, FeedClosed
from api.services import Services
from api.tickets import Caller, Used, any_of
from domain.errors import Invalid
from domain.permissions import Actor
from projections.dashboard_queries import Scope, metrics, sla, volume, workload
from projections.reading import Connectable
from projections.row_security import Reader, reading_as

log = logging.getLogger(__name__)

VIEWS: dict[str, Callable[..., Any]] = {"metrics": metrics, "volume": volume, "sla": sla, "workload": workload}
RETRY_MS = 3000  # how long a browser's EventSource waits before connecting again
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nothing between may hold events back
Views = Annotated[list[str] | None, any_of("The views to send (all four when not given)", tuple(VIEWS))]
EXPIRED = b'event: expired\ndata: {"message": "Your token has expired; sign in again."}\n\n'
UNAVAILABLE = b'event: unavailable\ndata: {"message": "The figures could not be read; reconnect shortly."}\n\n'

_encode = msgspec.json.Encoder().encode


class DashboardStreamController(Controller):
    path = "/api/v1/dashboard"
    tags = ["dashboard"]

    @get(
        "/stream",
        operation_id="dashboardStream",
        summary="Server-Sent Events: each view's figures on connecting and whenever they change (event name: the view)",
        # Not in the OpenAPI document: tools that call every documented operation and wait for
        # the answer to end (schemathesis, the suite's strict-query checks) would wait for ever.
        # README.md documents it. No media_type either: the refusals before the stream are JSON.
        include_in_schema=False,
    )
    async def stream(
        self,
        request: Request,
        actor: Caller,
        services: Used,
        ward: FromQuery[str | None] = None,
        since: Since = None,
        until: Until = None,
        view: Views = None,
    ) -> Stream:
        scope = scope_of(actor, ward, since, until)  # refused here, before the stream starts: a 400 or 403
        expires = token_expiry(request.headers.get("authorization"))
        events = figure_events(services, actor, scope, chosen_views(view), services.dashboard_feed, expires)
        return Stream(events, media_type="text/event-stream", headers=HEADERS)


def chosen_views(given: list[str] | None) -> list[str]:
    for name in given or []:
        if name not in VIEWS:
            raise Invalid(f"view: '{name}' is not a view; choose from {', '.join(VIEWS)}.", code="invalid_view", field="view")
    return [name for name in VIEWS if not given or name in given]


async def figure_events(
    services: Services, actor: Actor, scope: Scope, views: Sequence[str], feed: DashboardFeed, until: float | None
) -> AsyncIterator[bytes]:
    """The stream: the views' figures now, then again after each change of the tenant's figures that
    moved them, until the caller's token expires (then `expired`: the client connects again with a
    token that has not, or hears 401)."""
    reader, sent = Reader.of(actor), {}
    async with feed.listen(scope.tenant) as listener:
        yield f"retry: {RETRY_MS}\n\n".encode()
        while not expired(until):
            try:
                current = await figures(services, views, scope, reader)
            except Exception:  # the database, say: the client reconnects and hears why from the answer
                log.warning("a dashboard stream could not read its figures; ending it", exc_info=True)
                yield UNAVAILABLE
                return
            if current != sent:  # not a round the caller's views did not move in (a change in another ward, say)
                sent = current
                for name, data in current.items():
                    yield event(name, data)
            try:
                while not await listener.changed(next_wait(feed.heartbeat, until)):
                    if expired(until):
                        break
                    yield b": heartbeat\n\n"
            except FeedClosed:
                return
        yield EXPIRED


def expired(until: float | None) -> bool:
    return until is not None and time.time() >= until


def next_wait(heartbeat: float, until: float | None) -> float:
    return heartbeat if until is None else max(min(heartbeat, until - time.time()), 0.0)


def event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


async def figures(services: Services, views: Sequence[str], scope: Scope, reader: Reader) -> dict[str, bytes]:
    """What the GET endpoints of the views answer, encoded, read as the caller (row-level security)
    on one connection: a change of the tenant's figures costs each stream one checkout."""
    token = reading_as.set(reader)
    try:
        return await services.reads.run(figures_of, views, scope)
    finally:
        reading_as.reset(token)


def figures_of(reading: Connectable, views: Sequence[str], scope: Scope) -> dict[str, bytes]:
    return {name: _encode(VIEWS[name](reading, scope)) for name in views}
