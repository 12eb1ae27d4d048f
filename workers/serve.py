"""Runs process roles in one asyncio loop and stops them cleanly on SIGINT or SIGTERM, or when
one cannot start at boot; one that fails later is restarted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from commands.app import Docket
from projections.operations import PROJECTIONS, rebuild, stale_projections
from projections.runner import ProjectionLoop
from projections.sql import engine_for
from workers import event_loop
from workers.api_server import CannotStart, ProcessEnded, serve_api, until
from workers.audit_checkpoints import run_audit_checkpoints
from workers.bootstrap import Endpoints, application, endpoints, metrics_dir
from workers.draining import catch_up
from workers.metrics import share_metrics
from workers.notifier.role import run_notifier
from workers.priority import lower_this_thread
from workers.publisher import run_publisher
from workers.relay import Relay, connect_nats
from workers.scheduler import SLAScheduler
from workers.settings import Settings, SettingsError

log = logging.getLogger(__name__)

ROLES = ("api", "projector", "relay", "scheduler", "notifier", "sensitive_notifier")
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
# A role that ran this long before failing failed afresh: its next restart waits the first delay again.
STEADY = 60.0


def run(settings: Settings, roles: tuple[str, ...]) -> None:
    nats = "embedded" if set(roles) == set(ROLES) else "configured" if (set(ROLES) - {"api"}) & set(roles) else "none"
    if "api" in roles:
        share_metrics(metrics_dir(settings))
    with endpoints(settings, nats=nats) as found, application(found, settings) as app:
        event_loop.run(_run_roles(settings, found, app, roles))
    log.info("stopped")


async def _run_roles(settings: Settings, found: Endpoints, app: Docket, roles: tuple[str, ...]) -> None:
    stop = asyncio.Event()
    # The other roles stop after the API: when it takes no more commands and they have caught up.
    halt = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Each role reaches NATS as its own user: on the embedded server, that of authorization.conf.
    starters: dict[str, Callable[[], Awaitable[None]]] = {
        # Beside other roles, every API process is one of its own: none shares its interpreter
        # lock with the projections' threads, which left the API here too slow to take its share.
        "api": lambda: serve_api(settings, found, app, stop, here=roles == ("api",)),
        "projector": lambda: _run_projectors(app, found.as_nats_user("projector"), halt, settings),
        "relay": lambda: _run_relay(app, found.as_nats_user("relay"), halt),
        "scheduler": lambda: _run_scheduler(app, found.as_nats_user("scheduler"), halt),
        "notifier": lambda: run_notifier(app, found.as_nats_user("notifier"), settings, halt),
        "sensitive_notifier": lambda: run_notifier(app, found.as_nats_user("sensitive_notifier"), settings, halt, sensitive=True),
    }
    log.info("running %s", ", ".join(roles))
    tasks = [asyncio.create_task(_supervised(role, starters[role], stop if role == "api" else halt)) for role in roles]
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()  # a role that could not start stops the others: better no service than half of one
    log.info("stopping %s", ", ".join(roles))
    await asyncio.gather(*(task for role, task in zip(roles, tasks, strict=True) if role == "api"), return_exceptions=True)
    if not done - {stopping}:  # told to stop, not ended by a role: first the followers catch up
        await catch_up(app, roles, settings.stop_timeout)
    halt.set()
    await asyncio.gather(stopping, *tasks, return_exceptions=True)
    for task in done - {stopping}:
        task.result()  # raises the CannotStart (or SettingsError) that ended the role


async def _supervised(role: str, start: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Runs a role until stop. A role that cannot start at boot raises CannotStart; one that
    fails later is logged and restarted, after pauses that double up to MAX_RESTART_DELAY."""
    loop = asyncio.get_running_loop()
    delays = restart_delays()
    booting = True
    while not stop.is_set():
        began = loop.time()
        unexpected: Exception | None = None  # logged with its traceback
        try:
            await start()
        except (CannotStart, SettingsError) as error:  # a bad setting is not fixed by waiting either
            if booting:
                raise
            failure = str(error)
        except ProcessEnded as error:  # its own log says why
            failure = str(error)
        except Exception as error:
            failure, unexpected = f"{type(error).__name__}: {error}", error
        else:
            if stop.is_set():
                return
            failure = "it ended by itself"
        booting = False
        if loop.time() - began > STEADY:
            delays = restart_delays()
        delay = next(delays)
        log.error("%s failed (%s); restarting in %.0fs", role, failure, delay, exc_info=unexpected)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


def restart_delays(first: float = FIRST_RESTART_DELAY, cap: float = MAX_RESTART_DELAY) -> Iterator[float]:
    """The pauses before successive restarts: doubling from `first`, then `cap` for ever."""
    delay = first
    while True:
        yield min(delay, cap)
        delay *= 2


async def _run_projectors(app: Docket, found: Endpoints, stop: asyncio.Event, settings: Settings | None = None) -> None:
    """Every projection in its own loop, and the publisher of dashboard figures. Tables an older
    version of the code built are rebuilt first, beside the live ones, as the API goes on. The
    loops survive their own failures (projections/runner.py), so only stop ends them."""
    for name in await asyncio.to_thread(stale_projections, app):
        log.info("projection %s was built by an older version: rebuilding it", name)
        await asyncio.to_thread(rebuild, app, name, _progress_logger(name))
    assert found.nats_url is not None
    engine = engine_for(found.database_url, pool_size=2)
    publisher = asyncio.create_task(run_publisher(engine, found.nats_url, stop, replicas=found.stream_replicas))
    checkpointer = asyncio.create_task(run_audit_checkpoints(app, found.nats_url, stop, settings))
    halt = threading.Event()
    loops = [ProjectionLoop(app, projection_class) for projection_class in PROJECTIONS.values()]
    nice = settings.projection_nice if settings else 0
    threads = ThreadPoolExecutor(len(loops), thread_name_prefix="docket-projection", initializer=lower_this_thread, initargs=(nice,))
    running = asyncio.get_running_loop()
    following = [asyncio.ensure_future(running.run_in_executor(threads, loop.run, halt)) for loop in loops]
    log.info("projecting %s%s", ", ".join(PROJECTIONS), f", {nice} nice levels below the API" if nice else "")
    try:
        await until(stop, publisher, checkpointer, *following)
    finally:
        halt.set()
        await asyncio.gather(*following)
        threads.shutdown()
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        checkpointer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checkpointer
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
        await Relay(app, found.database_url, client.jetstream(), found.stream_replicas).run(stop)
    finally:
        await client.drain()


async def _run_scheduler(app: Docket, found: Endpoints, stop: asyncio.Event) -> None:
    assert found.nats_url is not None
    engine = engine_for(found.database_url, pool_size=2)
    try:
        await SLAScheduler(app, engine, found.database_url, found.nats_url).run(stop)
    finally:
        engine.dispose()
