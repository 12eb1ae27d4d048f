"""Running, rebuilding and inspecting projections."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.sql import SQL, Identifier
from sqlalchemy import Index

from commands.app import Docket
from commands.personal_data import PERSONAL_TOPICS
from projections.audit_chain import AuditChainProjection
from projections.base import TableSet, TrackedProjection
from projections.dashboard import DashboardProjection
from projections.health import create_stalls_table
from projections.row_security import ensure_role
from projections.search import create_search_function
from projections.shares import replay_in_shares, shares_for
from projections.sql import create_index, create_tables, drop_tables, lock_schema
from projections.tickets import TicketsProjection

log = logging.getLogger(__name__)

BATCH = 1000
# After a batch smaller than its limit, a follower (a projection's loop, the relay) reads the next no
# sooner than this after it began: under a steady stream of commits (each one a NOTIFY) a batch then
# holds what a few commits wrote, not one commit's events, and the reading, tracking and committing
# a batch costs are paid a few times fewer. What it adds to the lag is at most this.
LINGER = 0.05
# Events per transaction of a rebuild (per process). A batch changes its rows in memory and writes
# each once: a ticket whose events all fall in one batch is written once, not written and then
# updated. Memory grows with it: about 150 MB above a process's own at 20,000.
REBUILD_BATCH = 20_000
Progress = Callable[[int], None]

PROJECTIONS: dict[str, type[TrackedProjection]] = {p.name: p for p in (TicketsProjection, DashboardProjection, AuditChainProjection)}
VERSIONS = "projection_versions"
SHADOW = "_rebuild"  # the suffix of a rebuild's tables, filled beside the live ones
RELAY = "relay"  # its tracking table is made here too, so that /metrics can read it before the relay first runs


class ProjectionStatus(msgspec.Struct, frozen=True):
    name: str
    version: int  # of the live tables
    code_version: int  # of this code: when it is higher, the tables are rebuilt
    position: int
    head: int
    lag: int


def ensure_tables(datastore: PostgresDatastore) -> None:
    """Creates what is missing: every projection's live tables and tracking table, and the
    record of the version each was built with (a new projection starts at its code's version)."""
    with datastore.transaction(commit=True) as curs:
        lock_schema(curs)
        ensure_role(curs, datastore.schema or "public")
        curs.execute(f"CREATE TABLE IF NOT EXISTS {VERSIONS} (name text PRIMARY KEY, version integer NOT NULL)")
        create_stalls_table(curs)
        for projection in PROJECTIONS.values():
            create_tables(curs, projection.tables_for("").metadata)
            curs.execute(
                f"INSERT INTO {VERSIONS} (name, version) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (projection.name, projection.version),
            )
        create_search_function(curs, datastore.schema or "public")
    for name in (*PROJECTIONS, RELAY):
        tracking_recorder(datastore, name).create_table()


def built_versions(datastore: PostgresDatastore) -> dict[str, int]:
    with datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT name, version FROM {VERSIONS}")
        return {row["name"]: row["version"] for row in curs.fetchall()}


def stale_projections(app: Docket) -> list[str]:
    """Projections whose tables an older version of the code built."""
    built = built_versions(app.recorder.datastore)
    return [name for name, projection in PROJECTIONS.items() if built.get(name, 0) < projection.version]


def tracking_recorder(datastore: PostgresDatastore, projection: str) -> PostgresTrackingRecorder:
    return PostgresTrackingRecorder(datastore, tracking_table_name=f"{projection}_tracking")


def status(app: Docket) -> list[ProjectionStatus]:
    """Each projection's position and how many of the events it applies it has yet to apply."""
    built = built_versions(app.recorder.datastore)
    statuses = []
    for name, projection in PROJECTIONS.items():
        head = head_of(app, projection.topics)
        position = tracking_recorder(app.recorder.datastore, name).max_tracking_id(app.name) or 0
        statuses.append(
            ProjectionStatus(
                name=name,
                version=built.get(name, 0),
                code_version=projection.version,
                position=position,
                head=head,
                lag=max(head - position, 0),
            )
        )
    return statuses


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """A replay's objects (events, rows) form no reference cycles: each batch's are freed by their
    counts when it ends. The cycle collector, run every so many allocations, would only walk them
    (and everything else the process holds) to find nothing: a fifth of a replay's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@cycle_collection_paused()
def rebuild(app: Docket, name: str, progress: Progress = lambda n: None, shares: int | None = None, batch: int = REBUILD_BATCH) -> int:
    """Fills new tables beside the live ones from the event store, then swaps them in. `shares`:
    how many processes apply the events stored when it starts (default: as shares_for finds);
    `batch`: how many events each applies per transaction.

    The API goes on reading the live tables throughout. The swap holds the live tracking
    table's lock, so the live projector waits, then skips what the rebuild already applied.
    """
    projection_class = PROJECTIONS[name]
    datastore = app.recorder.datastore
    ensure_tables(datastore)
    shadow, scratch = projection_class.tables_for(SHADOW), f"{name}{SHADOW}"
    with datastore.transaction(commit=True) as curs:
        lock_schema(curs)
        drop_tables(curs, shadow.metadata)
        create_tables(curs, shadow.metadata, indexes=False)  # made after the replay: faster than kept up row by row
        curs.execute(SQL("DROP TABLE IF EXISTS {}").format(Identifier(f"{scratch}_tracking")))
    view = tracking_recorder(datastore, scratch)
    view.create_table()
    projection = projection_class(view, shadow)
    log.info("rebuilding projection %s beside the live one", name)
    position = _first_pass(app, projection, progress, shares, batch)
    log.info("indexing the rebuilt tables of projection %s", name)
    _index(datastore, shadow)
    with datastore.transaction(commit=True) as curs:
        lock_schema(curs)  # first: a process starting meanwhile grants on the tables this renames
        curs.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(Identifier(f"{name}_tracking")))
        position = _replay(app, projection, position, progress, batch, curs)
        _swap(curs, shadow, projection_class.tables_for(""))
        _set_position(curs, f"{name}_tracking", app.name, position)
        curs.execute(SQL("DROP TABLE {}").format(Identifier(f"{scratch}_tracking")))
        curs.execute(f"UPDATE {VERSIONS} SET version = %s WHERE name = %s", (projection_class.version, name))
    log.info("rebuilt projection %s (version %s) up to notification %s", name, projection_class.version, position)
    return position


def _first_pass(app: Docket, projection: TrackedProjection, progress: Progress, shares: int | None, batch: int) -> int:
    """Applies what is stored now to the shadow tables: in one process per core when there is much
    of it and the projection's events can be shared out by aggregate (projections/shares.py)."""
    head = head_of(app, projection.topics)
    shares = shares_for(type(projection), head, shares)  # the head's id: about as many events, at most
    if shares == 1:
        return _replay(app, projection, 0, progress, batch)
    replay_in_shares(app, projection.name, head, shares, batch, progress)
    with projection.view.datastore.transaction(commit=True) as curs:
        _set_position(curs, projection.view.tracking_table_name, app.name, head)
    return _replay(app, projection, head, progress, batch)


def events_after(app: Docket, position: int, topics: tuple[str, ...], limit: int = BATCH) -> list[tuple[Any, Tracking]]:
    return decoded(app, app.recorder.select_notifications(start=position + 1, limit=limit, topics=topics))


def decoded(app: Docket, notifications: list[Notification]) -> list[tuple[Any, Tracking]]:
    """The notifications' domain events, each with its position."""
    app.ticket_keys.load({n.originator_id for n in notifications if n.topic in PERSONAL_TOPICS})  # one query, not one per ticket
    return [(app.mapper.to_domain_event(n), Tracking(app.name, n.id)) for n in notifications]


def _replay(
    app: Docket, projection: TrackedProjection, position: int, progress: Progress, size: int, curs: Cursor[Any] | None = None
) -> int:
    while batch := events_after(app, position, projection.topics, size):
        if curs is None:
            with projection.view.datastore.transaction(commit=True) as batch_curs:
                projection.apply_batch(batch_curs, batch)
        else:
            projection.apply_batch(curs, batch)
        position = batch[-1][1].notification_id
        progress(len(batch))
    return position


def _index(datastore: PostgresDatastore, tables: TableSet) -> None:
    """Makes the tables' indexes on one connection per core, the slowest first: PostgreSQL builds
    a GIN index (search) on one core, and the other indexes meanwhile on the other."""
    indexes = sorted(
        (i for t in tables.metadata.sorted_tables for i in t.indexes), key=lambda i: i.dialect_options["postgresql"]["using"] != "gin"
    )

    def make(index: Index) -> None:
        with datastore.transaction(commit=True) as curs:
            lock_schema(curs, shared=True)
            create_index(curs, index)

    with ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, len(indexes))), thread_name_prefix="rebuild-index") as pool:
        list(pool.map(make, indexes))


def _swap(curs: Cursor[Any], shadow: TableSet, live: TableSet) -> None:
    for new in shadow.metadata.sorted_tables:
        old = live.metadata.tables[new.name.removesuffix(shadow.suffix)]
        curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(Identifier(old.name)))
        curs.execute(SQL("ALTER TABLE {} RENAME TO {}").format(Identifier(new.name), Identifier(old.name)))
        curs.execute(
            SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                Identifier(old.name), Identifier(new.primary_key.name), Identifier(old.primary_key.name)
            )
        )
        for index in new.indexes:  # IF EXISTS: an index whose extension is missing was never made
            live_name = index.name.replace(new.name, old.name, 1)
            curs.execute(SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(Identifier(index.name), Identifier(live_name)))


def _set_position(curs: Cursor[Any], table: str, application_name: str, position: int) -> None:
    curs.execute(
        SQL(
            "INSERT INTO {} (application_name, notification_id) VALUES (%s, %s) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
        ).format(Identifier(table)),
        (application_name, position),
    )


def head_of(app: Docket, topics: tuple[str, ...]) -> int:
    """The last stored event a projection of these topics applies (of every topic: of all events):
    where it is caught up."""
    table = Identifier(app.recorder.events_table_name)
    query = SQL("SELECT notification_id FROM {} WHERE {} ORDER BY notification_id DESC LIMIT 1").format(table, _of_topics(topics))
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute(query, (list(topics),) if topics else ())
        row = curs.fetchone()
    return row["notification_id"] if row else 0


def count_events(app: Docket, topics: tuple[str, ...]) -> int:
    table = Identifier(app.recorder.events_table_name)
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute(SQL("SELECT count(*) AS n FROM {} WHERE {}").format(table, _of_topics(topics)), (list(topics),) if topics else ())
        return curs.fetchone()["n"]


def _of_topics(topics: tuple[str, ...]) -> SQL:
    """A projection that names no topics applies every event (the audit chain)."""
    return SQL("topic = ANY(%s)") if topics else SQL("true")
