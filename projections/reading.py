"""The API's reads, on the event loop: one pooled connection per request, lent to the query
functions in place of an engine.

The query functions are written against `Connectable`: anything whose `connect()` gives a
SQLAlchemy connection. The command side hands them its engine (a connection per call); a request
hands them a `Reading`, whose `connect()` gives the one connection the request checked out of an
asyncio pool, so a detail and its assignments cost one checkout, and no thread.
Row-level security is as it was: each `connect()` reads as the caller the context names, or as
Docket inside `as_docket()` (row_security.py), switched on the connection when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from projections.row_security import Reader, read_as, reading_as
from projections.sql import bounded

T = TypeVar("T")
# conn.info[READER]: whom the connection's session reads as; a new one reads as the owner.
READER, OWNER, UNKNOWN = "docket.reader", None, object()
POOL_SIZE = 10  # connections per API process: a read holds one for a millisecond or two; past them reads wait


class Connectable(Protocol):
    def connect(self) -> contextlib.AbstractContextManager[Connection]: ...


class Reading:
    """One request's connection, for every query the request makes. Reads need no transaction
    (each statement reads what is committed when it starts, as in one at READ COMMITTED), so the
    connection runs in autocommit: no BEGIN and no ROLLBACK. Whom it reads as is set for its
    session and remembered with the connection, so a request read as the one before it on that
    connection sets nothing at all."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.depth = 0  # connect() within connect()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        outer = self.conn.info.get(READER, OWNER)
        self._read_as(reading_as.get())
        self.depth += 1
        try:
            yield self.conn
        except BaseException:
            self.depth -= 1
            with contextlib.suppress(Exception):  # a connection that failed may be gone with its info
                self.conn.info[READER] = UNKNOWN  # set afresh by whoever reads on it next
            raise
        self.depth -= 1
        if self.depth:  # back inside an outer connect(), whose queries read as it did
            self._read_as(outer)

    def _read_as(self, reader: Reader | None) -> None:
        if self.conn.info.get(READER, OWNER) != reader:
            self.conn.info[READER] = UNKNOWN  # until the server has taken the new one
            read_as(self.conn, reader, session=True)
            self.conn.info[READER] = reader


class Reads:
    """The API process's pools for reads: one per event loop that reads (an asyncio pool belongs
    to its loop), made at its first read and closed when the app stops on that loop. A test may
    serve one app from several loops, or start and stop it more than once: each loop has its own."""

    def __init__(self, url: URL, timeout: float | None = None, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.timeout = timeout
        self.pool_size = pool_size
        self._leases: dict[asyncio.AbstractEventLoop, Lease] = {}

    async def close(self) -> None:
        lease = self._leases.pop(asyncio.get_running_loop(), None)
        if lease is not None:
            await lease.close()

    async def run(self, query: Callable[..., T], *args: Any) -> T:
        """query(reading, *args) on one pooled connection, its blocking calls turned into awaits."""
        async with self._lease().connection() as conn:
            return await conn.run_sync(lambda sync: query(Reading(sync), *args))

    def _lease(self) -> Lease:
        loop = asyncio.get_running_loop()
        if (lease := self._leases.get(loop)) is None:
            lease = self._leases[loop] = Lease(async_engine_for(self.url, self.timeout, self.pool_size), self.pool_size, self.timeout)
        return lease


class Lease:
    """One loop's connections for reads, kept checked out of the engine's pool from one read to the
    next: checking a connection out and back in for each read (a greenlet each way, the pool's and
    the connection's bookkeeping) cost as much CPU as the read's statement. A read that fails, for
    whatever reason, gives its connection back to the pool, so the next one starts afresh. At most
    `size` reads run at once; the next waits for one to end, `timeout` seconds at most."""

    def __init__(self, engine: AsyncEngine, size: int, timeout: float | None) -> None:
        self.engine = engine
        self.timeout = timeout
        self.slots = asyncio.Semaphore(size)
        self.idle: list[AsyncConnection] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        await self._slot()
        try:
            conn = self.idle.pop() if self.idle else await self.engine.connect()
            try:
                yield conn
            except BaseException:
                await conn.close()
                raise
            self.idle.append(conn)
        finally:
            self.slots.release()

    async def _slot(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.slots.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no connection for a read came free in {self.timeout}s") from None

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().close()
        await self.engine.dispose()


def async_engine_for(url: URL, timeout: float | None, pool_size: int) -> AsyncEngine:
    """An asyncio engine on psycopg 3. No ping at checkout (a round trip per read): a connection
    the server dropped fails its read with 503 and leaves the pool. No rollback at checkin either:
    in autocommit there is no transaction to end. With a timeout, as projections.sql.engine_for:
    checkout, connecting and each statement end after about that long."""
    url = url.set(drivername="postgresql+psycopg")
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=0, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **bounded(timeout)
    )
