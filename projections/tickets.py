"""The `tickets` read model: one row per ticket, and one row per event for its history."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from commands.app import TICKET_TOPICS, event_name
from domain.ticket import Ticket
from projections.sql import execute

log = logging.getLogger(__name__)

OPENED_FIELDS = ("tracking_number", "workflow", "status", "title", "description", "category", "priority", "ward", "location", "is_sensitive")


@dataclass(frozen=True)
class TicketTables:
    suffix: str
    metadata: MetaData
    tickets: Table
    history: Table


def ticket_tables(suffix: str = "") -> TicketTables:
    """The tables, under names with `suffix` so that a rebuild can fill a copy beside the live ones."""
    metadata = MetaData()
    name = f"tickets{suffix}"
    tickets = Table(
        name,
        metadata,
        Column("id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("tracking_number", Text, nullable=False),
        Column("workflow", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("title", Text, nullable=False),
        Column("description", Text, nullable=False),
        Column("category", Text, nullable=False),
        Column("priority", Text, nullable=False),
        Column("ward", Text),
        Column("lat", Double),
        Column("lon", Double),
        Column("reporter_id", Text, nullable=False),
        Column("is_sensitive", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("version", Integer, nullable=False),
        PrimaryKeyConstraint("id", name=f"{name}_pkey"),
        Index(f"{name}_tenant_created", "tenant", "created_at", "id"),
        Index(f"{name}_tenant_status", "tenant", "status"),
        Index(f"{name}_tenant_tracking_number", "tenant", "tracking_number", unique=True),
    )
    history_name = f"ticket_history{suffix}"
    history = Table(
        history_name,
        metadata,
        Column("ticket_id", Uuid, nullable=False),
        Column("version", Integer, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("notification_id", BigInteger, nullable=False),
        Column("event", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", Text, nullable=False),
        Column("role", Text, nullable=False),
        Column("changes", JSONB, nullable=False),
        Column("note", Text),
        PrimaryKeyConstraint("ticket_id", "version", name=f"{history_name}_pkey"),
    )
    return TicketTables(suffix, metadata, tickets, history)


LIVE = ticket_tables()


class TicketsProjection(Projection[PostgresTrackingRecorder]):
    name = "tickets"
    topics = TICKET_TOPICS

    def __init__(self, view: PostgresTrackingRecorder, tables: TicketTables = LIVE) -> None:
        super().__init__(view)
        self.tables = tables

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Applies one event and records its position in one transaction; an event seen before is skipped."""
        try:
            with self.view.datastore.transaction(commit=True) as curs:
                self.view._insert_tracking(curs, tracking)
                self.apply(domain_event, tracking, curs)
        except IntegrityError:
            log.debug("event %s already applied to %s", tracking.notification_id, self.name)

    def apply_batch(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        """Applies many events inside the caller's transaction and records the last position."""
        for domain_event, tracking in items:
            self.apply(domain_event, tracking, curs)
        if items:
            self.view._insert_tracking(curs, items[-1][1])

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking, curs: Cursor[Any]) -> None:
        """Events this read model does not show change nothing."""

    @apply.register
    def _opened(self, e: Ticket.Opened, tracking: Tracking, curs: Cursor[Any]) -> None:
        location = e.location or {}
        execute(
            curs,
            insert(self.tables.tickets).values(
                id=e.originator_id,
                tenant=e.tenant,
                tracking_number=e.tracking_number,
                workflow=e.workflow,
                status=e.status,
                title=e.title,
                description=e.description,
                category=e.category,
                priority=e.priority,
                ward=e.ward,
                lat=location.get("lat"),
                lon=location.get("lon"),
                reporter_id=e.actor_id,
                is_sensitive=e.is_sensitive,
                created_at=e.timestamp,
                updated_at=e.timestamp,
                version=e.originator_version,
            ),
        )
        changes = {f: {"old": None, "new": getattr(e, f)} for f in OPENED_FIELDS if getattr(e, f) is not None}
        self._record_history(curs, e, tracking, changes, note=None)

    @apply.register
    def _status_changed(self, e: Ticket.StatusChanged, tracking: Tracking, curs: Cursor[Any]) -> None:
        tickets = self.tables.tickets
        execute(
            curs,
            update(tickets)
            .where(tickets.c.id == e.originator_id)
            .values(status=e.to_status, updated_at=e.timestamp, version=e.originator_version),
        )
        changes = {"status": {"old": e.from_status, "new": e.to_status}}
        self._record_history(curs, e, tracking, changes, note=e.note)

    def _record_history(self, curs: Cursor[Any], e: Any, tracking: Tracking, changes: dict[str, Any], note: str | None) -> None:
        execute(
            curs,
            insert(self.tables.history).values(
                ticket_id=e.originator_id,
                version=e.originator_version,
                tenant=e.tenant,
                notification_id=tracking.notification_id,
                event=event_name(e),
                at=e.timestamp,
                actor=e.actor_id,
                role=e.actor_role,
                changes=Jsonb(changes),
                note=note,
            ),
        )
