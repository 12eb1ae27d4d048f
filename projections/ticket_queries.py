"""Queries over the `tickets` read model, always inside the caller's read scope."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Select, and_, bindparam, case, func, or_, select, true
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import JSONB

from commands import sealing
from domain.disclosure import disclosed, history_scope
from domain.errors import TicketNotFound
from domain.permissions import Action, Actor, AgentReach, ReadScope, Role, TicketFacts, ensure_visible, list_scope, may, require
from domain.ticket_fields import PRIORITIES, SEVERITIES, one_of
from domain.workflow import Category
from projections.pages import Page, fetch_page
from projections.reading import Connectable
from projections.row_security import as_docket
from projections.search import search
from projections.sql import Prepared, struct_from
from projections.ticket_tables import LIVE
from projections.tickets import SEALED_COLUMNS
from projections.workflow_queries import known_statuses

tickets = LIVE.tickets
history = LIVE.history
assignments = LIVE.assignments


class Location(msgspec.Struct, frozen=True):
    lat: float
    lon: float


class Reporter(msgspec.Struct, frozen=True):
    id: str
    name: str | None
    phone: str | None
    email: str | None


class TicketView(msgspec.Struct, frozen=True):
    id: UUID
    tracking_number: str
    title: str
    description: str
    category: str
    priority: str
    severity: str | None
    ticket_type: str | None
    status: str
    status_category: str
    workflow: str
    workflow_version: int
    reporter: Reporter
    location: Location | None
    address: str | None
    ward: str | None
    team_id: str | None
    team_name: str | None
    assignee_id: str | None
    assignee_name: str | None
    accepted: bool
    sla_status: str | None
    sla_policy_id: str | None
    response_due: datetime | None
    resolution_due: datetime | None
    response_met_at: datetime | None
    resolution_met_at: datetime | None
    escalation_level: int
    escalation_reason: str | None
    tags: list[str]
    watchers: list[str]
    custom_fields: dict[str, Any]
    is_sensitive: bool
    archived: bool
    reply_count: int
    internal_note_count: int | None  # None for callers who may not read internal notes
    attachment_count: int
    reopen_count: int
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    completion_notes: str | None = None  # given with the move that completed the work (field service)
    escalated_at: datetime | None = None  # when it was last escalated


class AssignmentEntry(msgspec.Struct, frozen=True):
    """One step of who holds a ticket: assigned (by a rule or a person, and why), accepted, rejected, unassigned."""

    event: str
    at: datetime
    actor: str
    role: str
    team_id: str | None
    team_name: str | None
    assignee_id: str | None
    assignee_name: str | None
    rule: str | None
    reason: str | None
    assigned_by_name: str | None = None  # the display name of who made the step, when a team knows them


class TicketDetail(TicketView, frozen=True):
    assignments: list[AssignmentEntry] = []


class HistoryEntry(msgspec.Struct, frozen=True):
    event: str
    at: datetime
    actor: str
    role: str
    version: int
    notification_id: int
    changes: dict[str, Any]
    note: str | None = None
    note_public: bool = False  # the note is for the reporter too


TicketPage = Page[TicketView]
HistoryPage = Page[HistoryEntry]


class TicketFilters(msgspec.Struct, frozen=True):
    """A filter given several values matches any of them; the filters given all apply."""

    status: list[str] = []
    status_category: list[str] = []
    category: list[str] = []
    priority: list[str] = []
    severity: list[str] = []
    ward: list[str] = []
    assigned_team_id: list[str] = []
    assignee_id: list[str] = []
    sla_status: list[str] = []
    ticket_type: list[str] = []
    reporter_id: list[str] = []  # the subscriber, the customer: who reported
    tags: list[str] = []  # every one of them
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    q: str | None = None  # words to find in the tracking number, title and description
    sort_by: str | None = None  # None: by relevance when searching, else created_at
    order: str = "desc"
    include_sensitive: bool = False  # an administrator's lists leave sensitive tickets out unless asked


ANY_OF = {
    "status": tickets.c.status,
    "status_category": tickets.c.status_category,
    "category": tickets.c.category,
    "priority": tickets.c.priority,
    "severity": tickets.c.severity,
    "ward": tickets.c.ward,
    "assigned_team_id": tickets.c.team_id,
    "assignee_id": tickets.c.assignee_id,
    "ticket_type": tickets.c.ticket_type,
    "reporter_id": tickets.c.reporter_id,
}
RANGES = {
    "created_from": tickets.c.created_at.__ge__,
    "created_to": tickets.c.created_at.__le__,
    "updated_from": tickets.c.updated_at.__ge__,
    "updated_to": tickets.c.updated_at.__le__,
}
PRIORITY_RANK = case({"low": 0, "medium": 1, "high": 2, "urgent": 3}, value=tickets.c.priority)
SEVERITY_RANK = case({"minor": 0, "moderate": 1, "major": 2, "critical": 3}, value=tickets.c.severity)
SORTS = {
    "created_at": tickets.c.created_at,
    "updated_at": tickets.c.updated_at,
    "priority": PRIORITY_RANK,
    "severity": SEVERITY_RANK,
    "status": tickets.c.status,
    "category": tickets.c.category,
    "sla_deadline": func.least(
        case((tickets.c.response_met_at.is_(None), tickets.c.response_due)),
        case((tickets.c.resolution_met_at.is_(None), tickets.c.resolution_due)),
    ),
}
NEVER_NULL = {"created_at", "updated_at", "status", "category"}  # columns NOT NULL
SLA_STATUSES = ("on_track", "warning", "breached_response", "breached_resolution", "paused", "met")
CLOSED_SETS = {
    "status_category": tuple(Category),
    "priority": PRIORITIES,
    "severity": SEVERITIES,
    "sla_status": SLA_STATUSES,
}
ORDERS = ("asc", "desc")


def list_tickets(engine: Connectable, actor: Actor, filters: TicketFilters, page: int, page_size: int) -> TicketPage:
    """The tickets the caller may see that match every filter given, in a stable order."""
    query = scoped(ticket_rows(), list_scope(actor, filters.include_sensitive)).where(tickets.c.archived.is_(False))
    check_filters(engine, actor, filters)
    for name, column in ANY_OF.items():
        if values := getattr(filters, name):
            query = query.where(column.in_(values))
    for name, compare in RANGES.items():
        if (value := getattr(filters, name)) is not None:
            query = query.where(compare(value))
    if filters.tags:
        query = query.where(tickets.c.tags.contains(filters.tags))
    if filters.sla_status:
        query = query.where(sla_status().in_(filters.sla_status))
    order = []
    if filters.q and (found := search(filters.q)) is not None:
        query = query.where(found.where)
        if filters.sort_by is None:
            order.extend(found.ranking)
    return page_of(engine, actor, query, [*order, *sorted_by(filters.sort_by or "created_at", filters.order)], page, page_size)


def sorted_by(name: str, direction: str) -> list[Any]:
    """The sort key, then the id the same way round: on created_at an index of (tenant,
    created_at, id) then reads a page and stops, in either direction. Keys that may be null sort
    their nulls last."""
    key, tiebreak = (SORTS[name].asc(), tickets.c.id.asc()) if direction == "asc" else (SORTS[name].desc(), tickets.c.id.desc())
    return [key if name in NEVER_NULL else key.nulls_last(), tiebreak]


def check_filters(engine: Connectable, actor: Actor, filters: TicketFilters) -> None:
    """An unknown value of a filter with known values is a mistake to name, not a list that is silently empty.
    Statuses are the tenant's: those of the built-in workflows and of its own."""
    for name, allowed in CLOSED_SETS.items():
        for value in getattr(filters, name):
            one_of(name, value, allowed)
    if filters.sort_by is not None:
        one_of("sort_by", filters.sort_by, tuple(SORTS))
    one_of("order", filters.order, ORDERS)
    if filters.status:
        statuses = known_statuses(engine, actor.tenant)
        for value in filters.status:
            one_of("status", value, statuses)


def page_of(engine: Connectable, actor: Actor, query: Select, order: list[Any], page: int, page_size: int) -> TicketPage:
    """One page of the tickets the query selects, as the caller may see them."""
    return fetch_page(engine, query, order, page, page_size, lambda row: _view(row, actor))


def get_ticket(engine: Connectable, actor: Actor, ticket: UUID | str) -> TicketDetail:
    """One ticket, by id or tracking number, with its assignment history; archived ones too: they are
    gone from lists, not from the record."""
    row = visible_row(engine, actor, ticket)
    view = _view(row, actor)
    with engine.connect() as conn:
        found = ASSIGNMENT_STEPS.run(conn, tenant=actor.tenant, ticket_id=row["id"]).mappings().all()
    steps = [struct_from(AssignmentEntry, r, reason=opened(row, r["reason"])) for r in found]
    if actor.role is Role.REPORTER:
        steps = _public_steps(steps)
    return TicketDetail(**msgspec.structs.asdict(view), assignments=steps)


def assignment_steps() -> Select:
    """A ticket's assignment steps in order, each with the display name its tenant's teams know
    whoever made it by (the first team by name that has them), where the history keeps only an id."""
    teams = LIVE.teams
    member = func.jsonb_array_elements(teams.c.members).table_valued(sql_column("value", JSONB)).render_derived()
    name_of_actor = (
        select(member.c.value["display_name"].astext)
        .select_from(teams.join(member, true()))
        .where(teams.c.tenant == bindparam("tenant"), member.c.value["user_id"].astext == assignments.c.actor)
        .order_by(teams.c.name, teams.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(assignments, name_of_actor.label("assigned_by_name"))
        .where(assignments.c.ticket_id == bindparam("ticket_id"))
        .order_by(assignments.c.version)
    )


def visible_row(engine: Connectable, actor: Actor, ticket: UUID | str) -> Any:
    """The ticket's row, by id or tracking number, if the caller may see it: 404 outside their scope,
    403 for a kind they may not read. Errors name the ticket as the caller did, never its other identity.
    Looked for as the caller reads; only a ticket not found so is looked for again, whatever the
    caller's clearance, to say 403 where it is 403."""
    query, key = ticket_lookup(ticket)
    with engine.connect() as conn:
        row = query.run(conn, tenant=actor.tenant, key=key).mappings().first()
    if row is not None:
        ensure_visible(actor, ticket, facts_of(row))
        return row
    with as_docket(), engine.connect() as conn:
        hidden = query.run(conn, tenant=actor.tenant, key=key).mappings().first()
    if hidden is not None:
        ensure_visible(actor, ticket, facts_of(hidden))  # raises: the caller's rows did not hold it
    raise TicketNotFound(ticket)


def facts_of(row: Any) -> TicketFacts:
    return TicketFacts(
        tenant=row["tenant"],
        reporter_id=row["reporter_id"],
        ward=row["ward"],
        is_sensitive=row["is_sensitive"],
        workflow=row["workflow"],
        team_id=row["team_id"],
        assignee_id=row["assignee_id"],
    )


def identified_by(ticket: UUID | str) -> Any:
    """A UUID names the ticket's id; anything else its tracking number (a citizen on the phone knows the
    number, not the id), whatever its case."""
    query, key = ticket_lookup(ticket)
    return (tickets.c.id if query is TICKET_BY_ID else tickets.c.tracking_number) == key


def ticket_lookup(ticket: UUID | str) -> tuple[Prepared, Any]:
    """The query for one ticket of a tenant (its parameters: tenant, key), and the key, as identified_by says."""
    if isinstance(ticket, str):
        try:
            ticket = UUID(ticket)
        except ValueError:
            return TICKET_BY_NUMBER, ticket.strip().upper()
    return TICKET_BY_ID, ticket


def _public_steps(steps: list[AssignmentEntry]) -> list[AssignmentEntry]:
    """A reporter's view: who took their ticket on; not the staff's reasons, rules or refusals."""
    shown = [s for s in steps if s.event in ("Assigned", "AssignmentAccepted")]
    return [msgspec.structs.replace(s, rule=None, reason=None) for s in shown]


def ticket_history(engine: Connectable, actor: Actor, ticket: UUID | str, page: int, page_size: int) -> HistoryPage:
    """The entries the caller's role may read, each as it may read it (domain.disclosure says which)."""
    require(actor, Action.READ_HISTORY)
    visible = visible_row(engine, actor, ticket)
    ticket_id = visible["id"]
    scope = history_scope(actor.role)
    query = select(history).where(history.c.ticket_id == ticket_id)
    if not scope.internal:
        query = query.where(history.c.internal.is_(False))
    if scope.events is not None:
        query = query.where(history.c.event.in_(sorted(scope.events)))
    sealed = visible["is_sensitive"]
    return fetch_page(engine, query, [history.c.version], page, page_size, lambda row: _history_entry(row, actor, sealed))


def _history_entry(row: Any, actor: Actor, sealed: bool) -> HistoryEntry:
    ticket = row["ticket_id"]
    changes, note = (
        (sealing.unseal_json(row["changes"], ticket), sealing.unseal(row["note"], ticket)) if sealed else (row["changes"], row["note"])
    )
    shown = disclosed(actor.role, row["event"], changes, note, note_public=row["note_public"])
    return struct_from(HistoryEntry, row, changes=shown.changes, note=shown.note)


def ticket_rows() -> Select:
    """Ticket rows with their SLA status as of now."""
    return TICKET_ROWS


def sla_status() -> Any:
    """on_track, warning, breached_response, breached_resolution, paused or met; null without a policy.
    A breach counts from the deadline on, before the scheduler has recorded it."""
    t, now = tickets.c, func.now()
    running = {kind: and_(t[f"{kind}_due"].isnot(None), t[f"{kind}_met_at"].is_(None)) for kind in ("response", "resolution")}
    breached = {
        kind: or_(t[f"{kind}_breached"], and_(running[kind], t.sla_paused_at.is_(None), t[f"{kind}_due"] <= now))
        for kind in ("response", "resolution")
    }
    return case(
        (and_(t.response_due.is_(None), t.resolution_due.is_(None)), None),
        # The worse breach wins: a missed resolution deadline outweighs a missed response one.
        (breached["resolution"], "breached_resolution"),
        (breached["response"], "breached_response"),
        (~or_(*running.values()), "met"),
        (t.sla_paused_at.isnot(None), "paused"),
        (or_(*(and_(running[k], t[f"{k}_warning_at"] <= now) for k in running)), "warning"),
        else_="on_track",
    )


def scoped(query: Select, scope: ReadScope) -> Select:
    query = query.where(tickets.c.tenant == scope.tenant)
    if scope.reporter_id is not None:
        query = query.where(tickets.c.reporter_id == scope.reporter_id)
    if scope.ward is not None:
        query = query.where(tickets.c.ward == scope.ward)
    if not scope.sensitive:
        query = query.where(tickets.c.is_sensitive.is_(False))
    if not scope.ordinary:
        query = query.where(tickets.c.is_sensitive.is_(True))
    if scope.agent is not None:
        query = query.where(reached_by(scope.agent))
    return query


def reached_by(agent: AgentReach) -> Any:
    """The tickets an agent reaches, as AgentReach.reaches says, in SQL."""
    t = tickets.c
    mine = t.assignee_id == agent.id
    teams = or_(mine, t.team_id.in_(sorted(agent.teams))) if agent.teams else mine
    by_scope = {"all": true(), "assigned": mine, "team": teams}
    if agent.setting is not None:
        return or_(t.reporter_id == agent.id, by_scope[agent.setting])
    return or_(t.reporter_id == agent.id, and_(t.workflow == "field_service", mine), and_(t.workflow != "field_service", teams))


def opened(ticket: Any, value: Any) -> Any:
    """A value of the ticket's rows (a reply, a note) as it was written: unsealed if the ticket is sensitive."""
    return sealing.unseal(value, ticket["id"]) if ticket["is_sensitive"] else value


def unsealed(row: Any) -> Any:
    """A sensitive ticket's row with its words, the reporter's details and its place unsealed (the
    caller has been found cleared to read it); an ordinary ticket's as it is."""
    if not row["is_sensitive"]:
        return row
    place = json.loads(sealing.unseal(row["sealed_location"], row["id"])) if row["sealed_location"] else {}
    words = {name: sealing.unseal(row[name], row["id"]) for name in SEALED_COLUMNS}
    return {**row, **words, "lat": place.get("lat"), "lon": place.get("lon")}


def _view(row: Any, actor: Actor) -> TicketView:
    row = unsealed(row)
    return struct_from(
        TicketView,
        row,
        location={"lat": row["lat"], "lon": row["lon"]} if row["lat"] is not None else None,
        reporter=_reporter(row, actor),
        internal_note_count=row["internal_note_count"] if may(actor.role, Action.READ_INTERNAL_NOTES) else None,
        sla_policy_id=row["sla_policy_id"] if actor.role is not Role.REPORTER else None,  # policies are staff's, as in the history
    )


def _reporter(row: Any, actor: Actor) -> dict[str, Any]:
    """Who reported it. An agent reads the reporter's phone and email only on a ticket assigned to
    them: the technician who goes to the home, not every agent of the team."""
    contact = actor.role is not Role.AGENT or row["assignee_id"] == actor.id
    return {
        "id": row["reporter_id"],
        "name": row["reporter_name"],
        "phone": row["reporter_phone"] if contact else None,
        "email": row["reporter_email"] if contact else None,
    }


# Built once: a statement's cache key is then computed once too, and its SQL compiled once.
TICKET_ROWS = select(tickets, sla_status().label("sla_status"))
TICKET_BY_ID = Prepared(TICKET_ROWS.where(tickets.c.tenant == bindparam("tenant"), tickets.c.id == bindparam("key")))
TICKET_BY_NUMBER = Prepared(TICKET_ROWS.where(tickets.c.tenant == bindparam("tenant"), tickets.c.tracking_number == bindparam("key")))
ASSIGNMENT_STEPS = Prepared(assignment_steps())
