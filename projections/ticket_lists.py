"""Lists of tickets: the filters, sorts and scopes of `GET /tickets` (and the caller's queue), in SQL.

A list's statements are built and compiled once per shape (whose scope: a reporter's, a ward's, an
agent's; which filters are given; the sort) and run with the request's values as parameters; a
search adds its own conditions to the shape's statement.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Select, Text, and_, any_, bindparam, case, func, or_, true
from sqlalchemy.dialects.postgresql import ARRAY

from domain.permissions import Actor, ReadScope, list_scope
from domain.ticket_fields import PRIORITIES, SEVERITIES, one_of
from domain.workflow import Category
from projections.pages import fetch_prepared_page, prepared_statements
from projections.reading import Connectable
from projections.search import search
from projections.sql import Prepared
from projections.ticket_queries import TICKET_ROWS, TicketPage, page_of, sla_status, ticket_views, tickets
from projections.totals import TOTALS
from projections.workflow_queries import known_statuses


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
TEXTS = ARRAY(Text)
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
    check_filters(engine, actor, filters)
    scope = list_scope(actor, filters.include_sensitive)
    shape, values = (scope_shape(scope), filter_shape(filters)), scope_values(scope) | filter_values(filters)
    if filters.q and (found := search(filters.q)) is not None:
        query = listed(*shape).where(found.where).params(**values)
        ranking = found.ranking if filters.sort_by is None else []
        return page_of(engine, actor, query, [*ranking, *sorted_by(filters.sort_by or "created_at", filters.order)], page, page_size)
    count, rows = page_statements(*shape, filters.sort_by or "created_at", filters.order)
    # An SLA status is read against the clock: a ticket past its deadline moves to breached with no event.
    totals = None if filters.sla_status else TOTALS
    return fetch_prepared_page(engine, count, rows, values, page, page_size, lambda names: ticket_views(names, actor), totals)


FilterShape = tuple[tuple[str, ...], tuple[str, ...], bool, bool]  # ANY_OF and RANGES given; tags; sla_status


@functools.lru_cache(maxsize=1024)
def listed(scope: ScopeShape, filters: FilterShape) -> Select:
    return TICKET_ROWS.where(scope_clause(scope), tickets.c.archived.is_(False), *filter_clauses(filters))


@functools.lru_cache(maxsize=1024)
def page_statements(scope: ScopeShape, filters: FilterShape, sort_by: str, order: str) -> tuple[Prepared, Prepared]:
    """The total's statement and the rows' (Prepared.page gives a page of them)."""
    return prepared_statements(listed(scope, filters), sorted_by(sort_by, order))


def filter_shape(filters: TicketFilters) -> FilterShape:
    any_of = tuple(name for name in ANY_OF if getattr(filters, name))
    ranges = tuple(name for name in RANGES if getattr(filters, name) is not None)
    return any_of, ranges, bool(filters.tags), bool(filters.sla_status)


def filter_clauses(shape: FilterShape) -> list[Any]:
    any_of, ranges, tags, sla = shape
    clauses = [ANY_OF[name] == any_(bindparam(name, type_=TEXTS)) for name in any_of]
    clauses += [RANGES[name](bindparam(name)) for name in ranges]
    if tags:
        clauses.append(tickets.c.tags.contains(bindparam("tags", type_=TEXTS)))
    if sla:
        clauses.append(sla_status() == any_(bindparam("sla_status", type_=TEXTS)))
    return clauses


def filter_values(filters: TicketFilters) -> dict[str, Any]:
    names = (*ANY_OF, *RANGES, "tags", "sla_status")
    return {name: value for name in names if (value := getattr(filters, name)) not in (None, [])}


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
        statuses = tuple(sorted(known_statuses(engine, actor.tenant, filters.status)))
        for value in filters.status:
            one_of("status", value, statuses)


ScopeShape = tuple[bool, bool, bool, bool, tuple[str | None, bool] | None]  # reporter, ward, sensitive, ordinary, agent


def scoped(query: Select, scope: ReadScope) -> Select:
    """The query narrowed to the scope, its values bound."""
    return query.where(scope_clause(scope_shape(scope))).params(**scope_values(scope))


def scope_shape(scope: ReadScope) -> ScopeShape:
    agent = None if scope.agent is None else (scope.agent.setting, bool(scope.agent.teams))
    return scope.reporter_id is not None, scope.ward is not None, scope.sensitive, scope.ordinary, agent


def scope_values(scope: ReadScope) -> dict[str, Any]:
    values = {"tenant": scope.tenant, "scope_reporter": scope.reporter_id, "scope_ward": scope.ward}
    if scope.agent is not None:
        values |= {"agent": scope.agent.id, "agent_teams": sorted(scope.agent.teams)}
    return {name: value for name, value in values.items() if value is not None}


def scope_clause(shape: ScopeShape) -> Any:
    """A scope of this shape in SQL; parameters: tenant, scope_reporter, scope_ward, agent, agent_teams."""
    reporter, ward, sensitive, ordinary, agent = shape
    t = tickets.c
    clauses = [t.tenant == bindparam("tenant")]
    if reporter:
        clauses.append(t.reporter_id == bindparam("scope_reporter"))
    if ward:
        clauses.append(t.ward == bindparam("scope_ward"))
    if not sensitive:
        clauses.append(t.is_sensitive.is_(False))
    if not ordinary:
        clauses.append(t.is_sensitive.is_(True))
    if agent is not None:
        clauses.append(reached_by(*agent))
    return and_(*clauses)


def reached_by(setting: str | None, has_teams: bool) -> Any:
    """The tickets an agent reaches, as AgentReach.reaches says, in SQL (parameters: agent, agent_teams)."""
    t = tickets.c
    agent = bindparam("agent")
    mine = t.assignee_id == agent
    teams = or_(mine, t.team_id == any_(bindparam("agent_teams", type_=TEXTS))) if has_teams else mine
    by_scope = {"all": true(), "assigned": mine, "team": teams}
    if setting is not None:
        return or_(t.reporter_id == agent, by_scope[setting])
    return or_(t.reporter_id == agent, and_(t.workflow == "field_service", mine), and_(t.workflow != "field_service", teams))
