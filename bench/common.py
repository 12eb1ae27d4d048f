"""What the benchmarks share: their secrets, tokens, where the scratch database goes, and the API
as a separate process."""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from api.auth import issue_token
from tests.e2e.processes import Service, docket_env
from workers.embedded import free_port
from workers.settings import load_settings

log = logging.getLogger("bench")

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = secrets.token_urlsafe(48)
CIPHER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
PROGRESS_EVERY = 1.0  # seconds


def bearer(tenant: str, role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, tenant=tenant, role=role, sub=sub)}"}


def database_server() -> str | None:
    """The server to make the scratch database on; None for an embedded one."""
    # The settings module is the one reader of the environment; the secrets given here keep it
    # from generating and storing any of its own.
    settings = load_settings({**os.environ, "DOCKET_JWT_SECRET": JWT_SECRET, "DOCKET_CIPHER_KEY": CIPHER_KEY})
    if settings.database_url:
        return settings.database_url
    try:
        psycopg.connect(LOCAL_SERVER, connect_timeout=2).close()
    except psycopg.OperationalError:
        return None
    return LOCAL_SERVER


def safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def service_env(database_url: str, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """`docket` on the scratch database, logging only warnings (not a line per request)."""
    return docket_env(
        data_dir,
        DOCKET_DATABASE_URL=database_url,
        DOCKET_JWT_SECRET=JWT_SECRET,
        DOCKET_CIPHER_KEY=CIPHER_KEY,
        DOCKET_HTTP_PORT=str(port),
        DOCKET_LOG_LEVEL="WARNING",
        **extra,
    )


@contextmanager
def running_api(database_url: str, data_dir: Path) -> Iterator[str]:
    """`docket api` as a separate process, as it runs in production."""
    port = free_port()
    log.info("starting `docket api` on port %s (log: %s)", port, data_dir / "api.log")
    with serving(Service(["api"], service_env(database_url, data_dir, port), data_dir / "api.log"), port) as base_url:
        yield base_url


@contextmanager
def serving(service: Service, port: int) -> Iterator[str]:
    """The service's base URL once it answers healthy; it is stopped at the end."""
    try:
        base_url = f"http://127.0.0.1:{port}"
        service.wait_healthy(base_url)
        yield base_url
    finally:
        service.terminate()


def logged_problems(log_file: Path, most: int = 8) -> list[str]:
    """The service's last distinct warnings and errors (its log holds nothing else), to be shown
    before the log goes with the temporary directory."""
    lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines() if re.search(r"ERROR|WARNING|Error:", line)]
    distinct = list(dict.fromkeys(re.sub(r"^\S+ \S+ ", "", line) for line in lines))
    return distinct[-most:]
