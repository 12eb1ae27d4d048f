"""Running, rebuilding and inspecting projections."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from commands.app import Docket
from projections.sql import create_tables, drop_tables
from projections.ticket_tables import LIVE, TicketTables, ticket_tables
from projections.tickets import TicketsProjection

log = logging.getLogger(__name__)

BATCH = 1000
Progress = Callable[[int], None]

PROJECTIONS = {TicketsProjection.name: TicketsProjection}


class ProjectionStatus(msgspec.Struct, frozen=True):
    name: str
    position: int
    head: int
    lag: int


def ensure_tables(datastore: PostgresDatastore) -> None:
    with datastore.transaction(commit=True) as curs:
        create_tables(curs, LIVE.metadata)
    tracking_recorder(datastore, TicketsProjection.name).create_table()


def tracking_recorder(datastore: PostgresDatastore, projection: str) -> PostgresTrackingRecorder:
    return PostgresTrackingRecorder(datastore, tracking_table_name=f"{projection}_tracking")


def status(app: Docket) -> list[ProjectionStatus]:
    head = app.recorder.max_notification_id() or 0
    statuses = []
    for name in PROJECTIONS:
        position = tracking_recorder(app.recorder.datastore, name).max_tracking_id(app.name) or 0
        statuses.append(ProjectionStatus(name=name, position=position, head=head, lag=max(head - position, 0)))
    return statuses


def rebuild_tickets(app: Docket, progress: Progress = lambda n: None) -> int:
    """Fills new tables beside the live ones from the event store, then swaps them in.

    The API goes on reading the live tables throughout. The swap holds the live tracking
    table's lock, so the live projector waits, then skips what the rebuild already applied.
    """
    datastore = app.recorder.datastore
    ensure_tables(datastore)
    shadow = ticket_tables("_rebuild")
    with datastore.transaction(commit=True) as curs:
        drop_tables(curs, shadow.metadata)
        create_tables(curs, shadow.metadata)
        curs.execute("DROP TABLE IF EXISTS tickets_rebuild_tracking")
    view = tracking_recorder(datastore, "tickets_rebuild")
    view.create_table()
    projection = TicketsProjection(view, shadow)
    position = _replay(app, projection, 0, progress)
    with datastore.transaction(commit=True) as curs:
        curs.execute("LOCK TABLE tickets_tracking IN ACCESS EXCLUSIVE MODE")
        position = _replay(app, projection, position, progress, curs)
        _swap(curs, shadow, LIVE)
        _set_position(curs, "tickets_tracking", app.name, position)
        curs.execute("DROP TABLE tickets_rebuild_tracking")
    log.info("rebuilt projection tickets up to notification %s", position)
    return position


def events_after(app: Docket, position: int, topics: tuple[str, ...], limit: int = BATCH) -> list[tuple[Any, Tracking]]:
    notifications = app.recorder.select_notifications(start=position + 1, limit=limit, topics=topics)
    return [(app.mapper.to_domain_event(n), Tracking(app.name, n.id)) for n in notifications]


def _replay(app: Docket, projection: TicketsProjection, position: int, progress: Progress, curs: Cursor[Any] | None = None) -> int:
    while batch := events_after(app, position, projection.topics):
        if curs is None:
            with projection.view.datastore.transaction(commit=True) as batch_curs:
                projection.apply_batch(batch_curs, batch)
        else:
            projection.apply_batch(curs, batch)
        position = batch[-1][1].notification_id
        progress(len(batch))
    return position


def _swap(curs: Cursor[Any], shadow: TicketTables, live: TicketTables) -> None:
    for new in shadow.metadata.sorted_tables:
        old = live.metadata.tables[new.name.removesuffix(shadow.suffix)]
        curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(Identifier(old.name)))
        curs.execute(SQL("ALTER TABLE {} RENAME TO {}").format(Identifier(new.name), Identifier(old.name)))
        curs.execute(
            SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                Identifier(old.name), Identifier(new.primary_key.name), Identifier(old.primary_key.name)
            )
        )
        for index in new.indexes:
            live_name = index.name.replace(new.name, old.name, 1)
            curs.execute(SQL("ALTER INDEX {} RENAME TO {}").format(Identifier(index.name), Identifier(live_name)))


def _set_position(curs: Cursor[Any], table: str, application_name: str, position: int) -> None:
    curs.execute(
        SQL(
            "INSERT INTO {} (application_name, notification_id) VALUES (%s, %s) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
        ).format(Identifier(table)),
        (application_name, position),
    )


def count_events(app: Docket, topics: tuple[str, ...]) -> int:
    table = Identifier(app.recorder.events_table_name)
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute(SQL("SELECT count(*) AS n FROM {} WHERE topic = ANY(%s)").format(table), (list(topics),))
        return curs.fetchone()["n"]
