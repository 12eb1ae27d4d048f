"""Which tenants' dashboard figures have just been published: one watch of the `DOCKET_DASHBOARD`
bucket per API process, shared by every open stream (api/dashboard_stream.py).

The projector's publisher puts `<tenant>.dashboard.<view>` whenever a tenant's figures change. A
stream does not forward those values: they are the whole tenant's, and a ward councillor may read
one ward's. It is only told that its tenant changed, and recomputes its own figures. The watch
asks for the keys alone (no values) and ignores the values already stored when it starts.

NATS being away never ends a stream: the watch tries again every RETRY seconds, logging once
when it stalls and once when it resumes, and the streams go on with their heartbeats. `close()`
ends every stream at once, so that an API told to stop is not held up by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError
from nats.errors import Error as NatsError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

BUCKET = "DOCKET_DASHBOARD"
KEY_PART = ".dashboard."
RETRY = 2.0
TIMEOUT = 5.0
HEARTBEAT = 15.0
# One round of the publisher puts a tenant's four views one after another: a stream that waits
# this long after the first of them recomputes once for the round, not four times.
SETTLE = 0.15

Connect = Callable[[], Awaitable[NATS]]


class FeedClosed(Exception):
    """The API is stopping: streams end."""


class Listener:
    """One stream's view of the feed: waits until its tenant changed, or the feed closed."""

    def __init__(self, closed: asyncio.Event, settle: float = SETTLE) -> None:
        self._changed = asyncio.Event()
        self._closed = closed
        self._settle = settle

    def notify(self) -> None:
        self._changed.set()

    async def changed(self, timeout: float) -> bool:
        """Whether the tenant changed within timeout (and clears it); FeedClosed once the feed closes."""
        if self._closed.is_set():
            raise FeedClosed
        waits = {asyncio.ensure_future(self._changed.wait()), asyncio.ensure_future(self._closed.wait())}
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if self._closed.is_set():
            raise FeedClosed
        if not self._changed.is_set():
            return False
        await asyncio.sleep(self._settle)
        self._changed.clear()
        return True


class DashboardFeed:
    """Started by the first stream that listens, in the server's event loop; `connect` gives a
    NATS connection as a user that may watch the bucket (None: no live updates, heartbeats only)."""

    def __init__(self, connect: Connect | None, retry: float = RETRY, heartbeat: float = HEARTBEAT) -> None:
        self._connect = connect
        self._retry = retry
        self.heartbeat = heartbeat  # seconds between the comments a quiet stream sends
        self._listeners: dict[str, set[Listener]] = {}
        self._closed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def listen(self, tenant: str) -> AsyncIterator[Listener]:
        listener = Listener(self._closing())
        self._start()
        self._listeners.setdefault(tenant, set()).add(listener)
        try:
            yield listener
        finally:
            self._listeners[tenant].discard(listener)
            if not self._listeners[tenant]:
                del self._listeners[tenant]

    def listeners(self, tenant: str) -> int:
        """How many streams of the tenant listen now."""
        return len(self._listeners.get(tenant, ()))

    def close(self) -> None:
        """Ends every stream, now and from now on; the watch stops."""
        self._closing().set()
        if self._task is not None:
            self._task.cancel()

    def published(self, key: str) -> None:
        tenant, found, _ = key.rpartition(KEY_PART)
        for listener in self._listeners.get(tenant, ()) if found else ():
            listener.notify()

    def _closing(self) -> asyncio.Event:
        if self._closed is None:
            self._closed = asyncio.Event()
        return self._closed

    def _start(self) -> None:
        if self._task is None and self._connect is not None and not self._closing().is_set():
            self._task = asyncio.get_running_loop().create_task(self._watch_for_ever(self._connect))

    async def _watch_for_ever(self, connect: Connect) -> None:
        stalled = False
        while True:
            client = None
            try:
                client = await connect()  # bounded by connect itself
                kv = await client.jetstream(timeout=TIMEOUT).key_value(BUCKET)
                watcher = await kv.watch(">", meta_only=True)
                log.info("dashboard streams %s %s", "resumed following" if stalled else "follow", BUCKET)
                stalled = False
                await self._follow(client, watcher)
            except Exception as error:  # noqa: BLE001 - whatever it was, the watch tries again; only close() ends it
                if not stalled:
                    reason = str(error) or type(error).__name__
                    expected = isinstance(error, TimeoutError | NatsError | OSError)
                    log.warning(
                        "dashboard streams cannot follow %s (%s); trying again every %gs",
                        BUCKET,
                        reason,
                        self._retry,
                        exc_info=not expected,
                    )
                stalled = True
            finally:
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
            await asyncio.sleep(self._retry)

    async def _follow(self, client: NATS, watcher: KeyValue.KeyWatcher) -> None:
        """Tells the listeners of every key put from now on, until the connection is lost."""
        initial = True
        while client.is_connected:
            try:
                entry = await watcher.updates(timeout=self._retry)
            except TimeoutError:  # a moment to look at the connection again
                continue
            if entry is None:  # the end of the keys already stored: what comes next is news
                initial = False
            elif not initial:
                self.published(entry.key)
        raise ConnectionClosedError
