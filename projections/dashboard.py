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
)
from sqlalchemy.dialects.postgresql import insert as upsert

from commands.app import TEAM_TOPICS, TICKET_TOPICS
from domain.permissions import STAFF
from domain.team import Team
from domain.ticket import Ticket
from projections.base import TrackedProjection
from projections.rows import RowWriter
from projections.sql import execute

FIGURES = (
    "open", "resolved", "total", "with_sla", "with_response_sla", "with_resolution_sla",
    "response_breached", "resolution_breached", "breached", "responded",
)  # fmt: skip
STAFF_ROLES = {role.value for role in STAFF}
OPEN, RESOLVED = ("open", "pending"), ("resolved", "closed")
ROLLUP_KEY = ("tenant", "dim", "grain", "ward", "period", "key")  # a rollup row's primary key, in its order


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
        self._additions: list[tuple[tuple[Any, ...], dict[str, float]]] = []
        self._dirty: set[str] = set()

    def apply_all(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        """A batch's events change the tickets' facts in memory (each read once, with the rest of
        the batch's, and written once) and list what they add to which rollup rows; the additions
        are then made in memory too, in the order of the events, onto the rows read in one query,
        so the sums (floating-point seconds among them) are those of adding event by event."""
        rows = RowWriter(curs)
        rows.load(self.tables.facts, {e.originator_id for e, _ in items})
        self._additions, self._dirty = [], set()
        try:
            apply = self.apply  # looked up once: each lookup of a singledispatchmethod makes a new function
            for domain_event, tracking in items:
                apply(domain_event, tracking, rows)
            self._add_up(rows)
            rows.flush()
            for tenant in sorted(self._dirty):
                self._mark_dirty(curs, tenant)
        finally:
            self._additions, self._dirty = [], set()

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking, rows: RowWriter) -> None:
        """Events no figure depends on change nothing."""

    @apply.register
    def _opened(self, e: Ticket.Opened, tracking: Tracking, rows: RowWriter) -> None:
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
        rows.add(self.tables.facts, facts)
        self._add(facts, sign=1)

    @apply.register
    def _status_changed(self, e: Ticket.StatusChanged, tracking: Tracking, rows: RowWriter) -> None:
        self._change(rows, e, lambda f: {"status_category": e.to_category, **_responded(f, e)})

    @apply.register
    def _reply_added(self, e: Ticket.ReplyAdded, tracking: Tracking, rows: RowWriter) -> None:
        if not e.internal:
            self._change(rows, e, lambda f: _responded(f, e))

    @apply.register
    def _edited(self, e: Ticket.Edited, tracking: Tracking, rows: RowWriter) -> None:
        # A corrected category or ward moves the ticket's contribution from the old bucket to the new one.
        moved = {name: e.changes[name]["new"] or "" for name in ("category", "ward") if name in e.changes}
        if moved:
            self._change(rows, e, lambda f: moved)

    @apply.register
    def _marked_sensitive(self, e: Ticket.MarkedSensitive, tracking: Tracking, rows: RowWriter) -> None:
        released = {"team_id": "", "team_restricted": False} if e.team_released else {}
        self._change(rows, e, lambda f: {"is_sensitive": True, **released})

    @apply.register
    def _archived(self, e: Ticket.Archived, tracking: Tracking, rows: RowWriter) -> None:
        self._change(rows, e, lambda f: {"archived": True})

    @apply.register
    def _assigned(self, e: Ticket.Assigned, tracking: Tracking, rows: RowWriter) -> None:
        team = rows.row(self.tables.teams, e.team_id)
        restricted = bool(team and team["is_restricted"])
        self._change(rows, e, lambda f: {"team_id": e.team_id, "team_restricted": restricted})

    @apply.register
    def _deadlines_set(self, e: Ticket.SLADeadlinesSet, tracking: Tracking, rows: RowWriter) -> None:
        def update_sla(f: dict[str, Any]) -> dict[str, Any]:
            changes: dict[str, Any] = {f"has_{kind}_sla": True for kind in e.clocks}
            changes.update({f"{kind}_breached": False for kind in e.clocks})
            return changes

        self._change(rows, e, update_sla)

    @apply.register
    def _sla_breached(self, e: Ticket.SLABreached, tracking: Tracking, rows: RowWriter) -> None:
        self._change(rows, e, lambda f: {f"{e.kind}_breached": True})

    @apply.register
    def _team_created(self, e: Team.TeamCreated, tracking: Tracking, rows: RowWriter) -> None:
        rows.add(self.tables.teams, {"id": str(e.originator_id), "tenant": e.tenant, "name": e.name, "is_restricted": e.is_restricted})

    @apply.register
    def _team_changed(self, e: Team.TeamChanged, tracking: Tracking, rows: RowWriter) -> None:
        teams, team_id = self.tables.teams, str(e.originator_id)
        values = {name: e.changes[name]["new"] for name in ("name", "is_restricted") if name in e.changes}
        if values:
            rows.change(teams, team_id, values)
        if "name" in values:
            self._dirty.add(e.tenant)  # the workload names its teams
        if "is_restricted" in values:
            facts = self.tables.facts
            # In a fixed order, so that a rebuild adds the same floating-point seconds in the same order.
            held = rows.execute(select(facts.c.id).where(facts.c.team_id == team_id).order_by(facts.c.id)).fetchall()
            for ticket in held:
                self._change_facts(rows, ticket["id"], {"team_restricted": values["is_restricted"]})

    def _change(self, rows: RowWriter, e: Any, changes: Any) -> None:
        facts = rows.row(self.tables.facts, e.originator_id)
        if facts is not None:
            self._change_facts(rows, e.originator_id, changes(facts))

    def _change_facts(self, rows: RowWriter, ticket_id: Any, changes: dict[str, Any]) -> None:
        """Moves the ticket's contribution from what it was to what it becomes."""
        old = dict(rows.row(self.tables.facts, ticket_id) or {})
        new = {**old, **changes}
        if not old or new == old:
            return
        rows.change(self.tables.facts, ticket_id, changes)
        self._add(old, sign=-1)
        self._add(new, sign=1)

    def _add(self, facts: dict[str, Any], sign: int) -> None:
        figures = contribution(facts)
        if not any(figures.values()):
            return
        signed = {name: sign * value for name, value in figures.items()}
        self._additions.extend((tuple(key[c] for c in ROLLUP_KEY), signed) for key in rollup_keys(facts))
        self._dirty.add(facts["tenant"])

    def _add_up(self, rows: RowWriter) -> None:
        """Makes the batch's additions to the rollup rows, in order."""
        rollups = self.tables.rollups
        rows.load(rollups, {key for key, _ in self._additions})
        for key, signed in self._additions:
            row = rows.row(rollups, key)
            if row is None:
                row = {**dict(zip(ROLLUP_KEY, key, strict=True)), **dict.fromkeys(signed, 0)}
                rows.add(rollups, row)
            rows.change(rollups, key, {name: row[name] + value for name, value in signed.items()})

    def _mark_dirty(self, curs: Cursor[Any], tenant: str) -> None:
        # A mark already there is touched, not left alone: the publisher takes only the marks no
        # open transaction holds, so it cannot take this one and publish the figures before this
        # batch's changes to them are committed (and then never again).
        table = self.tables.dirty
        dirty = upsert(table).values(tenant=tenant, since=datetime.now().astimezone())
        execute(curs, dirty.on_conflict_do_update(index_elements=["tenant"], set_={"since": table.c.since}))


def _responded(facts: dict[str, Any], e: Any) -> dict[str, Any]:
    """The first public staff response (a move or a reply) sets the response time."""
    if facts["response_seconds"] is None and e.actor_role in STAFF_ROLES:
        return {"response_seconds": (e.timestamp - facts["created_at"]).total_seconds()}
    return {}


LIVE = dashboard_tables()
