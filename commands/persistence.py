"""eventsourcing's PostgreSQL persistence with connections that cannot hang for ever.

eventsourcing opens its connections with the host, port, user and password alone: a connection
attempt to a server that accepts and never answers waits 130 s, and a connection to a host that
is gone is noticed only when the kernel gives up, many minutes later. Here each connection also
gives up connecting after POSTGRES_CONNECT_TIMEOUT (which eventsourcing uses as the longest wait
for a pooled connection too) and has TCP keepalives and a TCP user timeout of about as long.

A server that is stopped (SIGSTOP) while its connections stay open still has its kernel
acknowledge every byte: nothing here ends a query on such a connection. The command runner's and
the API's own bounds answer the caller in time; the query ends when the server comes back.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType

KEEPALIVE_PROBES = 3


class BoundedPostgresFactory(PostgresFactory):
    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        timeout = int(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or "5")
        # The pool opens on first use, so every connection it makes has these.
        self.datastore.pool.kwargs.update(connection_bounds(timeout))


def connection_bounds(timeout: int) -> dict[str, int]:
    """libpq parameters that end a connection attempt, or a connection to a host that is gone,
    after about `timeout` seconds (at least 2: libpq's least connect timeout)."""
    timeout = max(timeout, 2)
    return {
        "connect_timeout": timeout,
        "keepalives": 1,
        "keepalives_idle": timeout,
        "keepalives_interval": 1,
        "keepalives_count": KEEPALIVE_PROBES,
        "tcp_user_timeout": timeout * 1000,
    }
