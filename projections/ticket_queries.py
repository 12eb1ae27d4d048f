"""Queries over the `tickets` read model, always inside the caller's read scope."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from sqlalchemy import ARRAY, Select, Text, and_, any_, bindparam, case, func, literal_column, or_, select, text, true
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by

from commands import sealing
from domain.disclosure import disclosed, history_scope
from domain.errors import TicketNotFound
from domain.permissions import Action, Actor, Role, TicketFacts, ensure_visible, may, require
from projections.pages import Page, by_name, fetch_page, fetch_prepared_page, prepared_statements
from projections.reading import Connectable
from projections.row_security import as_docket
from projections.sql import Prepared, struct_from
from projections.ticket_tables import LIVE
from projections.tickets import SEALED_COLUMNS
from projections.totals import TOTALS

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


def page_of(engine: Connectable, actor: Actor, query: Select, order: list[Any], page: int, page_size: int) -> TicketPage:
    """One page of the tickets the query selects, as the caller may see them."""
    return fetch_page(engine, query, order, page, page_size, lambda row: ticket_view(row, actor))


def get_ticket(engine: Connectable, actor: Actor, ticket: UUID | str) -> TicketDetail:
    """One ticket, by id or tracking number, with its assignment history, in one statement; archived
    ones too: they are gone from lists, not from the record."""
    row = visible_row(engine, actor, ticket, detailed=True)
    view = ticket_view(row, actor)
    steps = [struct_from(AssignmentEntry, r, reason=opened(row, r["reason"])) for r in row["assignment_steps"]]
    if actor.role is Role.REPORTER:
        steps = _public_steps(steps)
    return TicketDetail(**msgspec.structs.asdict(view), assignments=steps)


def with_assignment_steps(query: Select) -> Select:
    """The query's ticket rows, each with its assignment steps in order as a JSON array."""
    of_ticket = assignments.c.ticket_id == tickets.c.id
    columns = assignment_steps(of_ticket).selected_columns
    step = func.jsonb_build_object(*(part for column in columns for part in (literal_column(f"'{column.name}'"), column)))
    listed = select(func.coalesce(func.jsonb_agg(aggregate_order_by(step, assignments.c.version)), text("'[]'::jsonb"))).where(of_ticket)
    return query.add_columns(listed.scalar_subquery().label("assignment_steps"))


def assignment_steps(of_ticket: Any) -> Select:
    """A ticket's assignment steps in order (those of_ticket selects), each with the display name
    its tenant's teams know whoever made it by (the first team by name that has them), where the
    history keeps only an id."""
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
    return select(assignments, name_of_actor.label("assigned_by_name")).where(of_ticket).order_by(assignments.c.version)


def visible_row(engine: Connectable, actor: Actor, ticket: UUID | str, detailed: bool = False) -> Any:
    """The ticket's row, by id or tracking number, if the caller may see it: 404 outside their scope,
    403 for a kind they may not read. Errors name the ticket as the caller did, never its other identity.
    Looked for as the caller reads; only a ticket not found so is looked for again, whatever the
    caller's clearance, to say 403 where it is 403. Detailed, the row holds its assignment steps."""
    query, key = ticket_lookup(ticket)
    with engine.connect() as conn:
        row = (DETAILED[query] if detailed else query).first(conn, tenant=actor.tenant, key=key)
    if row is not None:
        ensure_visible(actor, ticket, facts_of(row))
        return row
    with as_docket(), engine.connect() as conn:
        hidden = query.first(conn, tenant=actor.tenant, key=key)
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


def ticket_lookup(ticket: UUID | str) -> tuple[Prepared, Any]:
    """The query for one ticket of a tenant (its parameters: tenant, key), and the key: a UUID names the
    ticket's id; anything else its tracking number (a citizen on the phone knows the number, not the
    id), whatever its case."""
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
    scope = history_scope(actor.role)
    count, rows = history_statements(scope.internal, scope.events is not None)
    values = {"ticket_id": visible["id"]} if scope.events is None else {"ticket_id": visible["id"], "events": sorted(scope.events)}
    sealed = visible["is_sensitive"]
    return fetch_prepared_page(
        engine, count, rows, values, page, page_size, by_name(lambda row: _history_entry(row, actor, sealed)), TOTALS
    )


@functools.cache
def history_statements(internal: bool, some_events: bool) -> tuple[Prepared, Prepared]:
    """A ticket's history entries as a role reads them (parameters: ticket_id, and events when
    only some are shown), compiled once: the total's statement and the rows' (as list pages are)."""
    query = select(history).where(history.c.ticket_id == bindparam("ticket_id"))
    if not internal:
        query = query.where(history.c.internal.is_(False))
    if some_events:
        query = query.where(history.c.event == any_(bindparam("events", type_=ARRAY(Text))))
    return prepared_statements(query, [history.c.version])


def _history_entry(row: Any, actor: Actor, sealed: bool) -> HistoryEntry:
    ticket = row["ticket_id"]
    changes, note = (
        (sealing.unseal_json(row["changes"], ticket), sealing.unseal(row["note"], ticket)) if sealed else (row["changes"], row["note"])
    )
    shown = disclosed(actor.role, row["event"], changes, note, note_public=row["note_public"])
    return struct_from(HistoryEntry, row, changes=shown.changes, note=shown.note)


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


def opened(ticket: Any, value: Any) -> Any:
    """A value of the ticket's rows (a reply, a note) as it was written: unsealed if the ticket is sensitive."""
    return sealing.unseal(value, ticket["id"]) if ticket["is_sensitive"] else value


def ticket_view(row: Mapping[str, Any], actor: Actor) -> TicketView:
    """The caller's view of one ticket's row."""
    return ticket_views(tuple(row), actor)(tuple(row.values()))


def ticket_views(names: tuple[str, ...], actor: Actor) -> Callable[[Sequence[Any]], TicketView]:
    """What makes the caller's views of rows with these columns, each from the row's values by
    position: no dict per row, no conversion, each field the column of its name (a list page of
    20 tickets made its views in a quarter of the time it took by name). A sensitive ticket's
    words, reporter and place are unsealed first (the caller has been found cleared to read it).
    What depends on the caller: an agent reads the reporter's phone and email only on a ticket
    assigned to them (the technician who goes to the home, not every agent of the team); internal
    notes are counted for those who may read them; SLA policies are staff's, as in the history."""
    layout = _layout(names)
    at = layout.at
    agent = actor.id if actor.role is Role.AGENT else None
    notes = may(actor.role, Action.READ_INTERNAL_NOTES)
    policies = actor.role is not Role.REPORTER

    def view(row: Sequence[Any]) -> TicketView:
        if row[at["is_sensitive"]]:
            row = _unsealed(row, at)
        lat = row[at["lat"]]
        contact = agent is None or row[at["assignee_id"]] == agent
        reporter = Reporter(
            row[at["reporter_id"]],
            row[at["reporter_name"]],
            row[at["reporter_phone"]] if contact else None,
            row[at["reporter_email"]] if contact else None,
        )
        derived = (
            None if lat is None else Location(lat, row[at["lon"]]),
            reporter,
            row[at["internal_note_count"]] if notes else None,
            row[at["sla_policy_id"]] if policies else None,
            None,
        )
        return TicketView(*layout.take((*row, *derived)))

    return view


DERIVED = ("location", "reporter", "internal_note_count", "sla_policy_id")  # after the row's values, then None


class _Layout(NamedTuple):
    at: dict[str, int]  # a column's position in the row
    take: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # TicketView's fields, in order, from (*row, *derived, None)


@functools.lru_cache(maxsize=64)
def _layout(names: tuple[str, ...]) -> _Layout:
    """Where each of TicketView's fields comes from in a row of these columns: a derived one from
    what follows the row's values, one with a default that the row lacks from the None at the end.
    A required field that no column gives is a KeyError here, at the first row, not a view
    missing it."""
    at = {name: index for index, name in enumerate(names)}
    derived = {name: len(names) + index for index, name in enumerate(DERIVED)}
    fields, defaults = TicketView.__struct_fields__, TicketView.__struct_defaults__
    optional = set(fields[len(fields) - len(defaults) :])
    none = len(names) + len(DERIVED)
    sources = [derived[name] if name in derived else at.get(name, none) if name in optional else at[name] for name in fields]
    return _Layout(at, operator.itemgetter(*sources))


def _unsealed(row: Sequence[Any], at: dict[str, int]) -> list[Any]:
    ticket = row[at["id"]]
    values = list(row)
    for name in SEALED_COLUMNS:
        values[at[name]] = sealing.unseal(row[at[name]], ticket)
    sealed_place = row[at["sealed_location"]]
    place = json.loads(sealing.unseal(sealed_place, ticket)) if sealed_place else {}
    values[at["lat"]], values[at["lon"]] = place.get("lat"), place.get("lon")
    return values


# Built once: a statement's cache key is then computed once too, and its SQL compiled once.
# Every column a view is made of, not the search vector: a list read it for every row and used none.
TICKET_ROWS = select(*(column for column in tickets.c if column.name != "search"), sla_status().label("sla_status"))
BY_ID = TICKET_ROWS.where(tickets.c.tenant == bindparam("tenant"), tickets.c.id == bindparam("key"))
BY_NUMBER = TICKET_ROWS.where(tickets.c.tenant == bindparam("tenant"), tickets.c.tracking_number == bindparam("key"))
TICKET_BY_ID, TICKET_BY_NUMBER = Prepared(BY_ID), Prepared(BY_NUMBER)
DETAILED = {TICKET_BY_ID: Prepared(with_assignment_steps(BY_ID)), TICKET_BY_NUMBER: Prepared(with_assignment_steps(BY_NUMBER))}
