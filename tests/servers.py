"""Real PostgreSQL and NATS for the tests: the configured servers, else embedded ones."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
import psycopg
from nats.js.errors import NotFoundError
from psycopg.sql import SQL, Identifier
from sqlalchemy.engine import make_url

from workers.embedded import EmbeddedNats, embedded_nats, embedded_postgres
from workers.relay import STREAM


@contextmanager
def fresh_database(server_url: str | None, data_dir: Path) -> Iterator[str]:
    """A new, empty database for one test session, on the configured server or an embedded one."""
    with _server(server_url, data_dir) as url:
        name = f"docket_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
        try:
            yield _with_dbname(url, name)
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))


@dataclass(frozen=True)
class OwnedNats:
    """The session's NATS server. The embedded one admits each user of authorization.conf with
    its own password, and nobody else; a configured one is reached as its URL says."""

    embedded: EmbeddedNats | None
    configured_url: str | None = None

    def url_for(self, user: str) -> str:
        if self.embedded is not None:
            return self.embedded.url_for(user)
        assert self.configured_url is not None
        return self.configured_url

    @property
    def admin_url(self) -> str:
        return self.url_for("admin")


@contextmanager
def owned_nats(server_url: str | None, data_dir: Path) -> Iterator[OwnedNats]:
    """A NATS server this session owns: the configured one with DOCKET_EVENTS emptied, else embedded.

    Each session starts a new database whose notification ids begin at 1 again, so an old
    stream would take its messages for duplicates.
    """
    if server_url is None:
        with embedded_nats(data_dir) as embedded:
            yield OwnedNats(embedded)
        return
    asyncio.run(_delete_stream(server_url))
    yield OwnedNats(None, server_url)


@contextmanager
def _server(server_url: str | None, data_dir: Path) -> Iterator[str]:
    if server_url is not None:
        yield server_url
        return
    with embedded_postgres(data_dir) as url:
        yield url


def _with_dbname(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _delete_stream(url: str) -> None:
    client = await nats.connect(url)
    try:
        await client.jetstream().delete_stream(STREAM)
    except NotFoundError:
        pass
    finally:
        await client.close()
