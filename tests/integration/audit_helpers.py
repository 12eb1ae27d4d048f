"""Steps shared by the audit tests: waiting for the chain, and tampering with the event store the
way an intruder with the database's password would, put right again afterwards (the store is the
session's, shared with every other test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from commands.config_cache import conninfo
from commands.structs import OpenTicket
from commands.tickets import open_ticket
from domain.permissions import Actor, Role
from projections.audit_chain import EVENTS_TABLE


def chained(projectors, app, timeout: float = 10) -> int:
    """Waits until the audit chain holds every event stored so far; returns where it stands."""
    head = app.recorder.max_notification_id() or 0
    projectors["audit_chain"].wait(head, timeout=timeout)
    return head


def open_some(app, tenant: str, n: int = 3, **fields) -> list:
    reporter = Actor(id="citizen-1", tenant=tenant, role=Role.REPORTER)
    details = {"title": "Streetlight out", "description": "Dark corner", "category": "lighting", **fields}
    return [open_ticket(app, OpenTicket(actor=reporter, **details)) for _ in range(n)]


@contextmanager
def byte_changed(app, notification_id: int, at: int = 20) -> Iterator[None]:
    """One byte of one stored event flipped, with an UPDATE; flipped back after."""
    flip = f"UPDATE {EVENTS_TABLE} SET state = set_byte(state, %s, get_byte(state, %s) # 1) WHERE notification_id = %s"
    with psycopg.connect(conninfo(app), autocommit=True) as conn:
        assert conn.execute(flip, (at, at, notification_id)).rowcount == 1
        try:
            yield
        finally:
            conn.execute(flip, (at, at, notification_id))


@contextmanager
def deleted(app, notification_id: int) -> Iterator[None]:
    """One stored event deleted; put back after, with its notification id."""
    with psycopg.connect(conninfo(app), autocommit=True) as conn:
        row = conn.execute(
            f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = %s RETURNING originator_id, originator_version, topic, state, notification_id",
            (notification_id,),
        ).fetchone()
        assert row is not None
        try:
            yield
        finally:
            conn.execute(
                f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state, notification_id) VALUES (%s, %s, %s, %s, %s)",
                row,
            )


@contextmanager
def swapped(app, first: int, second: int) -> Iterator[None]:
    """Two stored events trade places in the global order; traded back after."""

    def swap(conn: psycopg.Connection) -> None:
        with conn.transaction():
            conn.execute(f"UPDATE {EVENTS_TABLE} SET notification_id = -1 WHERE notification_id = %s", (first,))
            conn.execute(f"UPDATE {EVENTS_TABLE} SET notification_id = %s WHERE notification_id = %s", (first, second))
            conn.execute(f"UPDATE {EVENTS_TABLE} SET notification_id = %s WHERE notification_id = -1", (second,))

    with psycopg.connect(conninfo(app), autocommit=True) as conn:
        swap(conn)
        try:
            yield
        finally:
            swap(conn)
