"""Runs process roles in one asyncio loop and stops them cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import uvicorn
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import ProjectionRunner

from api.app import create_app
from commands.app import Docket
from projections.operations import PROJECTIONS, rebuild, stale_projections
from projections.sql import engine_for
from workers.bootstrap import Endpoints, api_services, application, endpoints
from workers.publisher import run_publisher
from workers.relay import Relay, connect_nats
from workers.scheduler import SLAScheduler
from workers.settings import Settings

log = logging.getLogger(__name__)

ROLES = ("api", "projector", "relay", "scheduler")
RESTART_DELAY = 2.0


def run(settings: Settings, roles: tuple[str, ...]) -> None:
    nats = "embedded" if set(roles) == set(ROLES) else "configured" if {"projector", "relay", "scheduler"} & set(roles) else "none"
    with endpoints(settings, nats=nats) as found, application(found) as app:
        asyncio.run(_run_roles(settings, found, app, roles))
    log.info("stopped")


async def _run_roles(settings: Settings, found: Endpoints, app: Docket, roles: tuple[str, ...]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starters: dict[str, Callable[[], Awaitable[None]]] = {
        "api": lambda: _serve_api(settings, found, app, stop),
        "projector": lambda: _run_projectors(app, found, stop),
        "relay": lambda: _run_relay(app, found, stop),
        "scheduler": lambda: _run_scheduler(app, found, stop),
    }
    log.info("running %s", ", ".join(roles))
    tasks = [asyncio.create_task(_supervised(role, starters[role], stop)) for role in roles]
    await stop.wait()
    log.info("stopping %s", ", ".join(roles))
    await asyncio.gather(*tasks)


async def _supervised(role: str, start: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Runs a role until stop; a role that fails is logged and restarted after a pause."""
    while not stop.is_set():
        try:
            await start()
        except Exception:
            log.exception("%s failed; restarting in %ss", role, RESTART_DELAY)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_DELAY)


class _Server(uvicorn.Server):
    """Leaves signals to the role runner, which stops every role together."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def _serve_api(settings: Settings, found: Endpoints, app: Docket, stop: asyncio.Event) -> None:
    services = api_services(settings, app, found)
    config = uvicorn.Config(create_app(services), host=settings.http_host, port=settings.http_port, log_level=settings.log_level.lower())
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    await _until(stop, serving)
    server.should_exit = True
    await serving
    services.engine.dispose()


async def _run_projectors(app: Docket, found: Endpoints, stop: asyncio.Event) -> None:
    """Every projection in its own runner, and the publisher of dashboard figures. Tables an older
    version of the code built are rebuilt first, beside the live ones, as the API goes on."""
    for name in await asyncio.to_thread(stale_projections, app):
        log.info("projection %s was built by an older version: rebuilding it", name)
        await asyncio.to_thread(rebuild, app, name, _progress_logger(name))
    assert found.nats_url is not None
    engine = engine_for(found.database_url, pool_size=2)
    publisher = asyncio.create_task(run_publisher(engine, found.nats_url, stop))
    watchers = [publisher]
    with contextlib.ExitStack() as runners:
        for projection_class in PROJECTIONS.values():
            runner = runners.enter_context(
                ProjectionRunner(
                    application_class=Docket,
                    projection_class=projection_class,
                    view_class=PostgresTrackingRecorder,
                    env=found.eventsourcing_env,
                )
            )
            watchers.append(asyncio.create_task(asyncio.to_thread(runner.run_forever)))
        log.info("projecting %s", ", ".join(PROJECTIONS))
        try:
            await _until(stop, *watchers)
        finally:
            await asyncio.to_thread(runners.close)  # joins the runners' threads off the event loop
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            engine.dispose()


def _progress_logger(name: str) -> Callable[[int], None]:
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        log.info("rebuilding %s: %d events applied", name, done)

    return progress


async def _run_relay(app: Docket, found: Endpoints, stop: asyncio.Event) -> None:
    assert found.nats_url is not None
    client = await connect_nats(found.nats_url, "docket-relay")
    try:
        await Relay(app, found.database_url, client.jetstream()).run(stop)
    finally:
        await client.drain()


async def _run_scheduler(app: Docket, found: Endpoints, stop: asyncio.Event) -> None:
    assert found.nats_url is not None
    engine = engine_for(found.database_url, pool_size=2)
    try:
        await SLAScheduler(app, engine, found.database_url, found.nats_url).run(stop)
    finally:
        engine.dispose()


async def _until(stop: asyncio.Event, *tasks: asyncio.Task) -> None:
    """Waits for stop, or for any task to end; re-raises that task's error."""
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    for task in done - {stopping}:
        task.result()
