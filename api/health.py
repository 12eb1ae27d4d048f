"""Liveness and readiness for load balancers, orchestrators and operators.

`/health/live` says the process runs and checks nothing else. `/health/ready` (and `/health`)
checks, together and each within READY_TIMEOUT, that the database answers and that a NATS server
answers: 503 naming what does not. It says how many events each projection and the relay have yet
to apply or publish (`lag`). A stalled projection or relay leaves the service ready, answering
from what the read models hold: `degraded`, naming it with its position (and the relay's lag).

NATS is checked by its greeting alone (the INFO line a nats-server sends to every connection
before any login), since the API has no NATS user; any one server of a cluster answering will do.
The answer is kept NATS_CACHE seconds, so that probes in quick succession open no connections.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from api.services import Services
from commands.app import TICKET_TOPICS
from commands.relay_stalls import RelayStall, relay_stalls
from projections.health import Stall, stalls
from projections.operations import RELAY, head_of, status, tracking_recorder

READY_TIMEOUT = 1.0  # seconds the database, and NATS, have to answer; no answer is "not ready"
NATS_CACHE = 1.0

_nats_answers: dict[str, tuple[float, str]] = {}  # per URL: when it was checked, and the answer
_taking: dict[tuple[int, int], asyncio.Future[Readings | str]] = {}  # per event loop and app: the readings being taken


class Readings(msgspec.Struct, frozen=True):
    stalled_projections: list[Stall]
    stalled_relays: list[RelayStall]
    lag: dict[str, int]  # events each projection, and the relay, has yet to apply or publish


@get("/health/live", operation_id="live", summary="Is the process running (nothing else is checked)")
async def live() -> dict[str, str]:
    return {"status": "live"}


@get("/health/ready", operation_id="ready", summary="Can it serve: the database and NATS answer; lag and stalls named")
async def ready(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    return await _readiness(services)


@get("/health", operation_id="health", summary="As /health/ready")
async def health(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    return await _readiness(services)


async def _readiness(services: Services) -> Response[dict[str, Any]]:
    readings, nats = await asyncio.gather(_database_readings(services), _nats_answer(services.nats_url))
    body: dict[str, Any] = {"status": "ok", "database": readings if isinstance(readings, str) else "ok"}
    if nats is not None:
        body["nats"] = nats
    if isinstance(readings, Readings):
        body["lag"] = readings.lag
        if readings.stalled_projections:
            body["stalled_projections"] = readings.stalled_projections
        if readings.stalled_relays:
            stall = readings.stalled_relays[0]
            body["stalled_relay"] = {**msgspec.structs.asdict(stall), "lag": readings.lag.get(RELAY, 0)}
    if body["database"] != "ok" or body.get("nats", "ok") != "ok":
        body["status"] = "unavailable"
        return Response(body, status_code=503, headers={"Retry-After": "5"})
    if "stalled_projections" in body or "stalled_relay" in body:
        body["status"] = "degraded"
    return Response(body)


async def _database_readings(services: Services) -> Readings | str:
    """What the database says, or why it said nothing within READY_TIMEOUT. Readings are taken one
    at a time: a probe that comes while they are taken shares them, so that a burst of probes asks
    the database what one does (a reading is a dozen queries), and none waits behind the others."""
    key = (id(asyncio.get_running_loop()), id(services))
    if (taking := _taking.get(key)) is None:
        taking = _taking[key] = asyncio.ensure_future(_take_database_readings(services))
        taking.add_done_callback(lambda _: _taking.pop(key, None))
    return await asyncio.shield(taking)  # a probe that goes away leaves the reading to the others


async def _take_database_readings(services: Services) -> Readings | str:
    try:
        return await asyncio.wait_for(asyncio.to_thread(_read_database, services), READY_TIMEOUT)
    except TimeoutError:
        return f"no answer within {READY_TIMEOUT:g}s"
    except Exception as error:  # noqa: BLE001 - any failure means not ready; its message may hold addresses
        return type(error).__name__


def _read_database(services: Services) -> Readings:
    with services.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        stalled_projections, stalled_relays = stalls(conn), relay_stalls(conn)
    app = services.app
    lag = {projection.name: projection.lag for projection in status(app)}
    relayed = tracking_recorder(app.recorder.datastore, RELAY).max_tracking_id(app.name) or 0
    lag[RELAY] = max(head_of(app, TICKET_TOPICS) - relayed, 0)
    return Readings(stalled_projections, stalled_relays, lag)


async def _nats_answer(url: str | None) -> str | None:
    """Whether a server of the URL (a comma-separated list) greets within READY_TIMEOUT: "ok", else
    why not; None when the API was given no NATS URL."""
    if url is None:
        return None
    checked = _nats_answers.get(url)
    if checked is not None and time.monotonic() - checked[0] < NATS_CACHE:
        return checked[1]
    answer = await _any_greets([part.strip() for part in url.split(",") if part.strip()])
    _nats_answers[url] = (time.monotonic(), answer)
    return answer


async def _any_greets(servers: list[str]) -> str:
    greetings = [asyncio.create_task(_greeting(server)) for server in servers]
    failure = "no server"
    try:
        for greeting in asyncio.as_completed(greetings):
            try:
                await greeting
                return "ok"
            except TimeoutError:
                failure = f"no answer within {READY_TIMEOUT:g}s"
            except (OSError, ValueError) as error:  # the kind only: its message holds the address
                failure = type(error).__name__
        return failure
    finally:
        for greeting in greetings:
            greeting.cancel()


async def _greeting(server: str) -> None:
    """Returns once the server has sent its INFO line; TimeoutError after READY_TIMEOUT."""
    address = urlsplit(server)
    async with asyncio.timeout(READY_TIMEOUT):
        reader, writer = await asyncio.open_connection(address.hostname, address.port or 4222)
        try:
            line = await reader.readline()
        finally:
            writer.close()
    if not line.startswith(b"INFO "):
        raise ValueError("not a NATS server")
