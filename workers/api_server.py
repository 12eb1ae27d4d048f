"""The API role: uvicorn on a socket bound here, and as many more API processes on that socket as
settings ask for, so that reads and commands use every core (each process its own committer).
Where this process runs other roles too (`docket serve`), it binds the socket and every API
process is one of those others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess

import uvicorn

from api.app import create_app
from commands.app import Docket
from workers import event_loop
from workers.bootstrap import Endpoints, api_services, application
from workers.settings import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
# Beyond an API process's own bounds on stopping (its requests, its last commit): to exit.
STOP_MARGIN = 5.0
HANDLER_THREADS = 128


class CannotStart(Exception):
    """A role cannot start, and trying again would not help (its port is taken, say)."""


class ProcessEnded(Exception):
    """An API process ended by itself: the API role restarts, every process of it."""


class _Server(uvicorn.Server):
    """Leaves signals to the role runner, which stops every role together."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve_api(settings: Settings, found: Endpoints, app: Docket, stop: asyncio.Event, here: bool = True) -> None:
    """This process serves the API, and api_workers - 1 others beside it on the same socket; or,
    not `here`, api_workers others while this one follows the event store."""
    listening = listening_socket(settings.http_host, settings.http_port)
    others = start_api_processes(settings, found, listening, settings.api_workers - here)
    # On stop every API process stops taking requests and finishes its own at once, not in turn.
    telling = asyncio.create_task(_terminate_on(stop, others))
    try:
        if here:
            await serve_api_on(listening, settings, found, app, stop)
        else:
            await _until_one_ends(stop, others)
    finally:
        telling.cancel()
        await asyncio.to_thread(stop_api_processes, others, settings.stop_timeout + settings.db_timeout + STOP_MARGIN)
        listening.close()


async def _until_one_ends(stop: asyncio.Event, processes: list[BaseProcess]) -> None:
    """Waits for stop, or for one of the processes to end (ProcessEnded), on their sentinels: not
    by joining them, which would reap them under stop_api_processes' own join."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[BaseProcess] = loop.create_future()
    for process in processes:
        loop.add_reader(process.sentinel, lambda process=process: ended.done() or ended.set_result(process))
    try:
        await until(stop, ended)
    finally:
        ended.cancel()
        for process in processes:
            loop.remove_reader(process.sentinel)
    if ended.done() and not ended.cancelled():
        gone = ended.result()
        await asyncio.to_thread(gone.join, 1)  # its sentinel closes a moment before it can be reaped
        raise ProcessEnded(f"API process {gone.pid} ended (exit code {gone.exitcode})")


async def _terminate_on(stop: asyncio.Event, processes: list[BaseProcess]) -> None:
    await stop.wait()
    for process in processes:
        if process.is_alive():
            process.terminate()


async def serve_api_on(listening: socket.socket, settings: Settings, found: Endpoints, app: Docket, stop: asyncio.Event) -> None:
    asyncio.get_running_loop().set_default_executor(handler_threads(HANDLER_THREADS))
    services = api_services(settings, app, found)
    config = uvicorn.Config(
        create_app(services),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=settings.stop_timeout,  # then requests still running are cancelled
    )
    server = _Server(config)
    try:
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        await until(stop, serving)
        services.dashboard_feed.close()  # its streams end now: uvicorn's drain would wait for them
        server.should_exit = True
        await serving
    except SystemExit:  # uvicorn's answer to what it cannot do; not to end docket by
        raise CannotStart(f"the API on {settings.http_host}:{settings.http_port} stopped; see the log above") from None
    finally:
        services.engine.dispose()
    if not server.started and not stop.is_set():  # its startup failed (uvicorn logged why)
        raise CannotStart(f"the API on {settings.http_host}:{settings.http_port} did not start; see the log above")


def handler_threads(count: int) -> ThreadPoolExecutor:
    """The pool handlers run in (the loop's default executor), every thread of it started now.

    Not a thread per core and four more, asyncio's default: so few that concurrent commands could
    never share a commit (a handler waiting for its commit holds its thread, not the GIL). And not
    started on demand: a thread is started from the event loop, which waits until the new thread
    has taken the GIL; on a busy machine the first surge of commands after a start (a hundred new
    threads, each waiting its turn) held the loop for a third of a second, and the commands it
    should have refused at once waited as long."""
    pool = ThreadPoolExecutor(count, thread_name_prefix="docket-api")
    go = threading.Event()
    started = [pool.submit(go.wait) for _ in range(count)]  # none is idle, so each submit starts one
    go.set()
    for thread_started in started:
        thread_started.result()
    return pool


def listening_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound here: a port in use is then a clear CannotStart, not uvicorn's
    sys.exit, which no supervisor catches."""
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every answer written in two parts waits ~40 ms for a delayed ACK.
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        raise CannotStart(f"cannot listen on {host}:{port}: {(error.strerror or str(error)).lower()}") from None
    return listening


def start_api_processes(settings: Settings, found: Endpoints, listening: socket.socket, count: int) -> list[BaseProcess]:
    # spawn, not fork: this process already runs threads (connection pools, the committer).
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=api_process, args=(settings, found.database_url, found.nats_url, listening, os.getpid()), name=f"docket-api-{n + 2}"
        )
        for n in range(max(count, 0))
    ]
    for process in processes:
        process.start()
    if processes:
        log.info("API served by %d processes on %s:%s", len(processes) + 1, settings.http_host, settings.http_port)
    return processes


def stop_api_processes(processes: list[BaseProcess], timeout: float = STOP_TIMEOUT) -> None:
    """Asks each to stop (SIGTERM: it finishes its requests first), and kills one that takes longer than timeout."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0))
        if process.is_alive():
            log.warning("API process %s did not stop within %gs; killing it", process.pid, timeout)
            process.kill()
            process.join()


def api_process(settings: Settings, database_url: str, nats_url: str | None, listening: socket.socket, parent: int) -> None:
    """An API process beside the first: serves until SIGTERM, or until its parent is gone."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    found = Endpoints(database_url, nats_url, settings.cipher_key)  # the NATS URL: for its readiness check
    with application(found, settings) as app:
        event_loop.run(_serve_until_told(listening, settings, found, app, parent))


async def _serve_until_told(listening: socket.socket, settings: Settings, found: Endpoints, app: Docket, parent: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    orphaned = asyncio.create_task(_parent_gone(parent, stop))
    try:
        await serve_api_on(listening, settings, found, app, stop)
    finally:
        orphaned.cancel()


async def _parent_gone(parent: int, stop: asyncio.Event) -> None:
    """A parent killed with SIGKILL cannot stop its children: they notice and stop themselves."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.warning("the process that started this API process is gone; stopping")
    stop.set()


async def until(stop: asyncio.Event, *tasks: asyncio.Task) -> None:
    """Waits for stop, or for any task to end; re-raises that task's error."""
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    for task in done - {stopping}:
        task.result()
