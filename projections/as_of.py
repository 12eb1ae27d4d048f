"""Read models as they stood at a past moment, replayed from the event store by the projections' own code.

A scratch session is one PostgreSQL connection of its own with TEMP tables named as the live
tables: PostgreSQL looks in a session's temporary schema first, so the projection's handlers and
the queries the API answers with (projections/ticket_queries.py, dashboard_queries.py), unchanged,
fill and read the copies there, never the live tables. The session ends with the connection, and
its tables with it. So a ticket as of a version is the detail the read model showed at that
version, and the dashboard as of now is the dashboard: the same code made both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent, Tracking
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from sqlalchemy import DateTime, MetaData, create_engine, literal, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import functions, visitors

from commands.config_cache import conninfo
from domain.errors import NotFound, Refused
from domain.permissions import Actor
from domain.ticket import Ticket
from projections.audit_chain import EVENTS_TABLE
from projections.audit_log import tenant_events
from projections.base import TrackedProjection
from projections.dashboard import DashboardProjection, dashboard_tables
from projections.dashboard_queries import CategoryVolume, Metrics, Scope, SLAFigures, TeamWorkload, metrics, sla, volume, workload
from projections.operations import tracking_recorder
from projections.ticket_queries import TicketDetail, get_ticket, sla_status, tickets, visible_row
from projections.ticket_tables import ticket_tables
from projections.tickets import TicketsProjection

Progress = Callable[[int], None]
Events = list[tuple[Any, Tracking]]


class Figures(msgspec.Struct, frozen=True):
    """The four dashboard views, as GET /api/v1/dashboard/* answer them."""

    metrics: Metrics
    volume: list[CategoryVolume]
    sla: SLAFigures
    workload: list[TeamWorkload]


class Scratch:
    """A session whose TEMP tables stand in for the live ones of a projection."""

    def __init__(self, app: Application, conn: psycopg.Connection, projection: TrackedProjection) -> None:
        self.app, self.conn, self.projection = app, conn, projection
        # The projection's queries go through SQLAlchemy; this engine hands out this one connection.
        self.engine: Engine = create_engine("postgresql+psycopg://", creator=lambda: conn, poolclass=StaticPool)

    def apply(self, events: Events) -> None:
        if not events:
            return
        with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as curs:
            self.projection.apply_all(curs, events)


@contextmanager
def scratch(app: Application, projection_class: type[TrackedProjection], metadata: MetaData) -> Iterator[Scratch]:
    with psycopg.connect(conninfo(app), autocommit=True) as conn:
        for table in metadata.sorted_tables:
            conn.execute(SQL("CREATE TEMP TABLE {0} (LIKE {0} INCLUDING ALL)").format(Identifier(table.name)))
        view = tracking_recorder(app.recorder.datastore, projection_class.name)  # never written: apply_all only
        session = Scratch(app, conn, projection_class(view))
        try:
            yield session
        finally:
            session.engine.dispose()


# A ticket as of a version or a moment


def ticket_as_of(
    app: Application, engine: Engine, actor: Actor, ticket: UUID | str, *, moment: datetime | None = None, version: int | None = None
) -> TicketDetail:
    """The ticket's detail as it stood after `version`, or at `moment`: status, team, assignee,
    deadlines, and its SLA status at that time. Visible as the detail is (404, 403 alike); a field
    redacted since stays redacted."""
    ticket_id = visible_row(engine, actor, ticket)["id"]
    events = _ticket_events(app, ticket_id)
    chosen = [
        (e, t) for e, t in events if (version is None or e.originator_version <= version) and (moment is None or e.timestamp <= moment)
    ]
    if not chosen:
        raise NotFound(f"Ticket {ticket} was not yet opened at {moment.isoformat()}.", code="not_yet_opened", field="as_of")
    if version is not None and chosen[-1][0].originator_version < version:
        raise NotFound(
            f"Ticket {ticket} has {chosen[-1][0].originator_version} versions, not {version}.",
            code="no_such_version",
            field="as_of_version",
        )
    then = moment or chosen[-1][0].timestamp
    with scratch(app, TicketsProjection, ticket_tables().metadata) as session:
        session.apply(chosen)
        detail = get_ticket(session.engine, actor, ticket_id)
        with session.engine.connect() as conn:
            status_then = conn.execute(select(sla_status_at(then)).where(tickets.c.id == ticket_id)).scalar()
    erased = {e.field for e, _ in events if isinstance(e, Ticket.FieldRedacted)}
    return _without(msgspec.structs.replace(detail, sla_status=status_then), erased)


def sla_status_at(moment: datetime) -> Any:
    """The read model's SLA status expression, with `now()` replaced by the moment."""
    then = literal(moment, DateTime(timezone=True))
    return visitors.replacement_traverse(sla_status(), {}, lambda element: then if isinstance(element, functions.now) else None)


def _ticket_events(app: Application, ticket_id: UUID) -> Events:
    query = SQL("SELECT notification_id, originator_version, topic, state FROM {} WHERE originator_id = %s ORDER BY originator_version")
    with app.recorder.datastore.transaction(commit=False) as curs:
        rows = curs.execute(query.format(Identifier(EVENTS_TABLE)), (ticket_id,)).fetchall()
    events = []
    for row in rows:
        stored = StoredEvent(ticket_id, row["originator_version"], row["topic"], bytes(row["state"]))
        try:
            domain_event = app.mapper.to_domain_event(stored)
        except Exception:  # noqa: BLE001 - altered or erased: the ticket cannot be replayed past it
            raise Refused(
                f"Version {row['originator_version']} of ticket {ticket_id} cannot be read (see `docket audit verify`).",
                code="unreadable_event",
            ) from None
        events.append((domain_event, Tracking(app.name, row["notification_id"])))
    return events


def _without(detail: TicketDetail, erased: set[str]) -> TicketDetail:
    """The detail with the fields redacted since as the read model holds them now: empty."""
    if not erased:
        return detail
    reporter = msgspec.structs.replace(
        detail.reporter, **{field.removeprefix("reporter_"): None for field in erased if field.startswith("reporter_")}
    )
    cleared = {field: None for field in ("address", "location") if field in erased}
    return msgspec.structs.replace(detail, reporter=reporter, **cleared)


# The dashboard as of a moment


@contextmanager
def dashboard_as_of(app: Application, tenant: str, moment: datetime | None = None, progress: Progress = lambda n: None) -> Iterator[Engine]:
    """An engine on the dashboard's tables as the tenant's events up to `moment` (all of them
    without one) made them, replayed through the dashboard projection: any of the dashboard's
    queries answers on it as it would have then."""
    with scratch(app, DashboardProjection, dashboard_tables().metadata) as session:
        for batch in tenant_events(app, tenant, DashboardProjection.topics, until=moment):
            session.apply(batch)
            progress(len(batch))
        yield session.engine


def figures_as_of(
    app: Application, tenant: str, moment: datetime | None = None, ward: str | None = None, progress: Progress = lambda n: None
) -> Figures:
    """The tenant's four dashboard figures at `moment`, by the dashboard's own projection and queries."""
    with dashboard_as_of(app, tenant, moment, progress) as engine:
        scope = Scope(tenant, ward)
        return Figures(metrics(engine, scope), volume(engine, scope), sla(engine, scope), workload(engine, scope))
