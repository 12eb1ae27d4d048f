"""A TCP proxy on loopback between the application and PostgreSQL, for outage tests.

`pause()` holds every byte both ways, on open connections and new ones alike: what a client sees
of a server stopped with SIGSTOP (its kernel still accepts connections and acknowledges data, and
nothing answers). `cut()` closes every connection and refuses new ones: a server that stopped.
`resume()` lets bytes through again. The upstream is a host and port, or the Unix socket of an
embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

CHUNK = 65536


class Proxy:
    def __init__(self, database_url: str) -> None:
        info = conninfo_to_dict(database_url)
        host, port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
        self.upstream: tuple[str, int] | Path = Path(host) / f".s.PGSQL.{port}" if host.startswith("/") else (host, port)
        self.database_url = database_url
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The database's URL, through the proxy."""
        url = make_url(self.database_url).set(host="127.0.0.1", port=self.port)
        return url.set(query={k: v for k, v in url.query.items() if k != "host"}).render_as_string(hide_password=False)

    def __enter__(self) -> Proxy:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def pause(self) -> None:
        self._call(self._pause())

    def cut(self) -> None:
        self._call(self._cut())

    def resume(self) -> None:
        self._call(self._start())

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(5)

    async def _start(self) -> None:
        if self._flowing is None:
            self._flowing = asyncio.Event()
        if self._server is None:
            self._server = await asyncio.start_server(self._connected, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]
        self._flowing.set()

    async def _pause(self) -> None:
        assert self._flowing is not None
        self._flowing.clear()

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _shut(self) -> None:
        await self._cut()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _connected(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        await self._flowing.wait()
        try:
            if isinstance(self.upstream, Path):
                server_reader, server_writer = await asyncio.open_unix_connection(str(self.upstream))
            else:
                server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))
        self._writers -= {client_writer, server_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
