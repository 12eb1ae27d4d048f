"""Whether the relay is stalled: written by the relay (workers/relay.py) when JetStream stops
acknowledging, read by /health/ready and /metrics in any process.

It sits here, below api/, because the API reads it and may not import workers/; like
projections/health.py for the projections. It writes no events.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from eventsourcing.postgres import PostgresDatastore
from sqlalchemy import Connection, text

RELAY_STALLS = "relay_stalls"


class RelayStall(msgspec.Struct, frozen=True):
    name: str
    position: int  # the last notification JetStream acknowledged: the relay publishes again after it
    error: str  # the kind of failure only: no addresses, no content
    since: datetime


def create_relay_stalls_table(datastore: PostgresDatastore) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute(
            f"CREATE TABLE IF NOT EXISTS {RELAY_STALLS} (name text PRIMARY KEY, position bigint NOT NULL, "
            "error text NOT NULL, since timestamptz NOT NULL DEFAULT now())"
        )


def record_relay_stall(datastore: PostgresDatastore, name: str, position: int, error: str) -> None:
    """Records a stall where it began; recording it again changes the position and error only."""
    with datastore.transaction(commit=True) as curs:
        curs.execute(
            f"INSERT INTO {RELAY_STALLS} (name, position, error) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, error = EXCLUDED.error",
            (name, position, error),
        )


def clear_relay_stall(datastore: PostgresDatastore, name: str) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute(f"DELETE FROM {RELAY_STALLS} WHERE name = %s", (name,))


def relay_stalls(conn: Connection) -> list[RelayStall]:
    """The stalled relays; none before any relay made the table."""
    if conn.execute(text("SELECT to_regclass(:table)"), {"table": RELAY_STALLS}).scalar() is None:
        return []
    rows = conn.execute(text(f"SELECT name, position, error, since FROM {RELAY_STALLS} ORDER BY name")).mappings()
    return [RelayStall(**row) for row in rows]
