"""The API's own listening socket: its connections send small answers at once (TCP_NODELAY), so a
request does not wait ~40 ms for a delayed ACK."""

from __future__ import annotations

import asyncio
import socket

from workers.api_server import listening_socket
from workers.embedded import free_port


def test_connections_accepted_on_the_api_socket_have_nagle_turned_off():
    async def accept_one() -> int:
        listening = listening_socket("127.0.0.1", free_port())
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.set_result(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        try:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            nodelay = await asyncio.wait_for(accepted, 5)
            writer.close()
            return nodelay
        finally:
            server.close()

    assert asyncio.run(accept_one()) != 0
