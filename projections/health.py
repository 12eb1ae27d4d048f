"""Which projections are stalled: written by the loops that run them, read by /health in any process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from sqlalchemy import Connection, text

STALLS = "projection_stalls"


class Stall(msgspec.Struct, frozen=True):
    name: str
    position: int  # the last notification id applied: the failing event comes after it
    failures: int  # in a row
    error: str  # the kind of error only: its message may quote an event's content
    since: datetime


def create_stalls_table(curs: Cursor[Any]) -> None:
    curs.execute(
        f"CREATE TABLE IF NOT EXISTS {STALLS} (name text PRIMARY KEY, position bigint NOT NULL, "
        "failures integer NOT NULL, error text NOT NULL, since timestamptz NOT NULL DEFAULT now())"
    )


def record_stall(datastore: PostgresDatastore, name: str, position: int, failures: int, error: str) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute(
            f"INSERT INTO {STALLS} (name, position, failures, error) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, failures = EXCLUDED.failures, "
            f"error = EXCLUDED.error, since = CASE WHEN {STALLS}.position = EXCLUDED.position THEN {STALLS}.since ELSE now() END",
            (name, position, failures, error),
        )


def clear_stall(datastore: PostgresDatastore, name: str) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute(f"DELETE FROM {STALLS} WHERE name = %s", (name,))


def stalls(conn: Connection) -> list[Stall]:
    rows = conn.execute(text(f"SELECT name, position, failures, error, since FROM {STALLS} ORDER BY name")).mappings()
    return [Stall(**row) for row in rows]
