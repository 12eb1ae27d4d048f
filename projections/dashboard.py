"""The `dashboard` read model: figures kept incrementally, so no request scans the tickets.

Each ticket adds to rollup rows: per day and per month it was opened in, per ward, for the
tenant as a whole, for its category and for its team. Its facts row says what it adds, so a
change moves its contribution from the old rows to the new ones. A request sums whole months and
the days at the edges of its range: a number of rows bounded by wards, days and categories or
teams, never by the number of tickets. Sensitive tickets, archived tickets and tickets held by
restricted teams add nothing. Tenants whose figures changed are marked dirty in the same
transaction, for the publisher to send to NATS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.sql import SQL, Identifier
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as upsert

from commands.app import TEAM_TOPICS, TICKET_TOPICS
from domain.permissions import STAFF
from domain.team import Team
from domain.ticket import Ticket
from projections.base import TrackedProjection
from projections.sql import add_to_rows, execute, insert_row, update_row

FIGURES = (
    "open", "resolved", "total", "with_sla", "with_response_sla", "with_resolution_sla",
    "response_breached", "resolution_breached", "breached", "responded",
)  # fmt: skip
STAFF_ROLES = {role.value for role in STAFF}
OPEN, RESOLVED = ("open", "pending"), ("resolved", "closed")


@dataclass(frozen=True)
class DashboardTables:
    suffix: str
    metadata: MetaData
    rollups: Table
    facts: Table
    teams: Table
    dirty: Table


def dashboard_tables(suffix: str = "") -> DashboardTables:
    metadata = MetaData()
    name = f"dashboard_rollups{suffix}"
    rollups = Table(
        name,
        metadata,
        Column("tenant", Text, nullable=False),
        Column("dim", Text, nullable=False),  # "all", "category" or "team"
        Column("grain", Text, nullable=False),  # "day" or "month"
        Column("ward", Text, nullable=False),  # "" for no ward
        Column("period", Date, nullable=False),  # the day, or the month's first day, tickets were opened (UTC)
        Column("key", Text, nullable=False),  # the category or team id; "" for "all"
        *(Column(figure, Integer, nullable=False) for figure in FIGURES),
        Column("response_seconds", Double, nullable=False),  # summed over the responded tickets
        PrimaryKeyConstraint("tenant", "dim", "grain", "ward", "period", "key", name=f"{name}_pkey"),
        Index(f"{name}_period", "tenant", "dim", "grain", "period"),
    )
    facts = Table(
        f"dashboard_facts{suffix}",
        metadata,
        Column("id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("ward", Text, nullable=False),
        Column("day", Date, nullable=False),
        Column("category", Text, nullable=False),
        Column("team_id", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("status_category", Text, nullable=False),
        Column("is_sensitive", Boolean, nullable=False),
        Column("archived", Boolean, nullable=False),
        Column("team_restricted", Boolean, nullable=False),
        Column("has_response_sla", Boolean, nullable=False),
        Column("has_resolution_sla", Boolean, nullable=False),
        Column("response_breached", Boolean, nullable=False),
        Column("resolution_breached", Boolean, nullable=False),
        Column("response_seconds", Double),  # null until the first staff response
        PrimaryKeyConstraint("id", name=f"dashboard_facts{suffix}_pkey"),
    )
    teams = Table(
        f"dashboard_teams{suffix}",
        metadata,
        Column("id", Text, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("is_restricted", Boolean, nullable=False),
        PrimaryKeyConstraint("id", name=f"dashboard_teams{suffix}_pkey"),
    )
    dirty = Table(
        f"dashboard_dirty{suffix}",
        metadata,
        Column("tenant", Text, nullable=False),
        Column("since", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("tenant", name=f"dashboard_dirty{suffix}_pkey"),
    )
    return DashboardTables(suffix, metadata, rollups, facts, teams, dirty)


def rollup_keys(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The rollup rows one ticket adds to: two grains, and the tenant, its category and its team."""
    day = facts["day"]
    dims = [("all", ""), ("category", facts["category"])] + ([("team", facts["team_id"])] if facts["team_id"] else [])
    return [
        {"tenant": facts["tenant"], "dim": dim, "grain": grain, "ward": facts["ward"], "period": period, "key": key}
        for grain, period in (("day", day), ("month", day.replace(day=1)))
        for dim, key in dims
    ]


def contribution(facts: dict[str, Any]) -> dict[str, float]:
    """What one ticket adds to its bucket."""
    if facts["is_sensitive"] or facts["archived"] or facts["team_restricted"]:
        return dict.fromkeys((*FIGURES, "response_seconds"), 0)
    responded = facts["response_seconds"] is not None
    return {
        "open": int(facts["status_category"] in OPEN),
        "resolved": int(facts["status_category"] in RESOLVED),
        "total": 1,
        "with_sla": int(facts["has_response_sla"] or facts["has_resolution_sla"]),
        "with_response_sla": int(facts["has_response_sla"]),
        "with_resolution_sla": int(facts["has_resolution_sla"]),
        "response_breached": int(facts["response_breached"]),
        "resolution_breached": int(facts["resolution_breached"]),
        "breached": int(facts["response_breached"] or facts["resolution_breached"]),
        "responded": int(responded),
        "response_seconds": facts["response_seconds"] if responded else 0.0,
    }


class DashboardProjection(TrackedProjection):
    name = "dashboard"
    topics = TICKET_TOPICS + TEAM_TOPICS
    version = 2  # 2: rollups per day and month instead of buckets per ticket key
    tables: DashboardTables
    tables_for = staticmethod(dashboard_tables)

    def __init__(self, view: Any, tables: Any = None) -> None:
        super().__init__(view, tables)
        self._batch_facts: dict[Any, dict[str, Any]] = {}
        self._batch_dirty: set[str] = set()

    def apply_batch(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        """Within a batch (one transaction, this projection the only writer) the facts of a ticket
        read or written once are kept, and a tenant is marked dirty once: each read is a round trip
        and most events of a batch touch a few tickets."""
        self._batch_facts, self._batch_dirty = self._facts_of(curs, {e.originator_id for e, _ in items}), set()
        try:
            super().apply_batch(curs, items)
        finally:
            self._batch_facts, self._batch_dirty = {}, set()

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking, curs: Cursor[Any]) -> None:
        """Events no figure depends on change nothing."""

    @apply.register
    def _opened(self, e: Ticket.Opened, tracking: Tracking, curs: Cursor[Any]) -> None:
        facts = {
            "id": e.originator_id,
            "tenant": e.tenant,
            "ward": e.ward or "",
            "day": e.timestamp.date(),
            "category": e.category,
            "team_id": "",
            "created_at": e.timestamp,
            "status_category": "open",
            "is_sensitive": e.is_sensitive,
            "archived": False,
            "team_restricted": False,
            "has_response_sla": False,
            "has_resolution_sla": False,
            "response_breached": False,
            "resolution_breached": False,
            "response_seconds": None,
        }
        insert_row(curs, self.tables.facts, dict(**facts))
        self._batch_facts[e.originator_id] = facts
        self._add(curs, facts, contribution(facts), sign=1)

    @apply.register
    def _status_changed(self, e: Ticket.StatusChanged, tracking: Tracking, curs: Cursor[Any]) -> None:
        self._change(curs, e, lambda f: {"status_category": e.to_category, **_responded(f, e)})

    @apply.register
    def _reply_added(self, e: Ticket.ReplyAdded, tracking: Tracking, curs: Cursor[Any]) -> None:
        if not e.internal:
            self._change(curs, e, lambda f: _responded(f, e))

    @apply.register
    def _edited(self, e: Ticket.Edited, tracking: Tracking, curs: Cursor[Any]) -> None:
        # A corrected category or ward moves the ticket's contribution from the old bucket to the new one.
        moved = {name: e.changes[name]["new"] or "" for name in ("category", "ward") if name in e.changes}
        if moved:
            self._change(curs, e, lambda f: moved)

    @apply.register
    def _archived(self, e: Ticket.Archived, tracking: Tracking, curs: Cursor[Any]) -> None:
        self._change(curs, e, lambda f: {"archived": True})

    @apply.register
    def _assigned(self, e: Ticket.Assigned, tracking: Tracking, curs: Cursor[Any]) -> None:
        restricted = self._team_restricted(curs, e.team_id)
        self._change(curs, e, lambda f: {"team_id": e.team_id, "team_restricted": restricted})

    @apply.register
    def _deadlines_set(self, e: Ticket.SLADeadlinesSet, tracking: Tracking, curs: Cursor[Any]) -> None:
        def update_sla(f: dict[str, Any]) -> dict[str, Any]:
            changes: dict[str, Any] = {f"has_{kind}_sla": True for kind in e.clocks}
            changes.update({f"{kind}_breached": False for kind in e.clocks})
            return changes

        self._change(curs, e, update_sla)

    @apply.register
    def _sla_breached(self, e: Ticket.SLABreached, tracking: Tracking, curs: Cursor[Any]) -> None:
        self._change(curs, e, lambda f: {f"{e.kind}_breached": True})

    @apply.register
    def _team_created(self, e: Team.TeamCreated, tracking: Tracking, curs: Cursor[Any]) -> None:
        row = {"id": str(e.originator_id), "tenant": e.tenant, "name": e.name, "is_restricted": e.is_restricted}
        insert_row(curs, self.tables.teams, dict(**row))

    @apply.register
    def _team_changed(self, e: Team.TeamChanged, tracking: Tracking, curs: Cursor[Any]) -> None:
        teams, team_id = self.tables.teams, str(e.originator_id)
        values = {name: e.changes[name]["new"] for name in ("name", "is_restricted") if name in e.changes}
        if values:
            execute(curs, update(teams).where(teams.c.id == team_id).values(**values))
        if "name" in values:
            self._mark_dirty(curs, e.tenant)  # the workload names its teams
        if "is_restricted" in values:
            facts = self.tables.facts
            # In a fixed order, so that a rebuild sums the same floating-point seconds in the same order.
            held = execute(curs, select(facts.c.id).where(facts.c.team_id == team_id).order_by(facts.c.id)).fetchall()
            for ticket_id in held:
                self._change_facts(curs, ticket_id["id"], {"team_restricted": values["is_restricted"]})

    def _change(self, curs: Cursor[Any], e: Any, changes: Any) -> None:
        facts = self._facts(curs, e.originator_id)
        if facts is not None:
            self._change_facts(curs, e.originator_id, changes(facts), facts)

    def _change_facts(self, curs: Cursor[Any], ticket_id: Any, changes: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """Moves the ticket's contribution from what it was to what it becomes."""
        old = old or self._facts(curs, ticket_id)
        new = {**old, **changes}
        if new == old:
            return
        update_row(curs, self.tables.facts, {"id": ticket_id}, changes)
        self._batch_facts[ticket_id] = new
        self._add(curs, old, contribution(old), sign=-1)
        self._add(curs, new, contribution(new), sign=1)

    def _add(self, curs: Cursor[Any], facts: dict[str, Any], figures: dict[str, float], sign: int) -> None:
        if not any(figures.values()):
            return
        signed = {name: sign * value for name, value in figures.items()}
        add_to_rows(curs, self.tables.rollups, [{**key, **signed} for key in rollup_keys(facts)], tuple(signed))
        self._mark_dirty(curs, facts["tenant"])

    def _mark_dirty(self, curs: Cursor[Any], tenant: str) -> None:
        if tenant in self._batch_dirty:
            return
        self._batch_dirty.add(tenant)
        # A mark already there is touched, not left alone: the publisher takes marks with a DELETE,
        # which then waits for this transaction, so it cannot take the mark and publish the figures
        # before this batch's changes to them are committed (and then never again).
        table = self.tables.dirty
        dirty = upsert(table).values(tenant=tenant, since=datetime.now().astimezone())
        execute(curs, dirty.on_conflict_do_update(index_elements=["tenant"], set_={"since": table.c.since}))

    def _facts_of(self, curs: Cursor[Any], ticket_ids: set[Any]) -> dict[Any, dict[str, Any]]:
        """The facts of these tickets (ids of other aggregates find nothing), in one query."""
        query = SQL("SELECT * FROM {} WHERE id = ANY(%s)").format(Identifier(self.tables.facts.name))
        return {row["id"]: dict(row) for row in curs.execute(query, (list(ticket_ids),)).fetchall()}

    def _facts(self, curs: Cursor[Any], ticket_id: Any) -> dict[str, Any] | None:
        if ticket_id in self._batch_facts:
            return dict(self._batch_facts[ticket_id])
        row = execute(curs, select(self.tables.facts).where(self.tables.facts.c.id == ticket_id)).fetchone()
        if row is None:
            return None
        self._batch_facts[ticket_id] = dict(row)
        return dict(row)

    def _team_restricted(self, curs: Cursor[Any], team_id: str) -> bool:
        teams = self.tables.teams
        row = execute(curs, select(teams.c.is_restricted).where(teams.c.id == team_id)).fetchone()
        return bool(row and row["is_restricted"])


def _responded(facts: dict[str, Any], e: Any) -> dict[str, Any]:
    """The first public staff response (a move or a reply) sets the response time."""
    if facts["response_seconds"] is None and e.actor_role in STAFF_ROLES:
        return {"response_seconds": (e.timestamp - facts["created_at"]).total_seconds()}
    return {}


LIVE = dashboard_tables()
