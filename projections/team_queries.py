"""Queries over teams, routing rules and who holds which tickets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import case, func, select

from domain.contacts import mask
from domain.errors import NotFound
from domain.permissions import Action, Actor, Role, list_scope, require
from projections.reading import Connectable
from projections.sql import struct_from
from projections.ticket_lists import scoped
from projections.ticket_queries import TICKET_ROWS, TicketPage, page_of
from projections.ticket_tables import LIVE

teams = LIVE.teams
rules = LIVE.routing_rules
tickets = LIVE.tickets
OPEN_CATEGORIES = ("open", "pending")


class MemberView(msgspec.Struct, frozen=True):
    user_id: str
    display_name: str
    role: str
    phone: str | None = None  # where notifications reach them; masked but for administrators
    email: str | None = None


class TeamView(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    categories: list[str]
    wards: list[str]
    is_restricted: bool
    capacity: int | None
    strategy: str
    members: list[MemberView]
    version: int
    updated_at: datetime


class RoutingRulesView(msgspec.Struct, frozen=True):
    version: int
    rules: list[dict[str, Any]]
    fallback_team_id: str | None
    set_by: str | None = None
    set_at: datetime | None = None


def list_teams(engine: Connectable, actor: Actor) -> list[TeamView]:
    require(actor, Action.READ_TEAMS)
    query = select(teams).where(teams.c.tenant == actor.tenant).order_by(teams.c.name, teams.c.id)
    with engine.connect() as conn:
        return [_contacts_shown(struct_from(TeamView, row), actor) for row in conn.execute(query).mappings()]


def get_team(engine: Connectable, actor: Actor, team_id: UUID) -> TeamView:
    require(actor, Action.READ_TEAMS)
    query = select(teams).where(teams.c.tenant == actor.tenant, teams.c.id == team_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"No team {team_id} exists.", code="unknown_team")
    return _contacts_shown(struct_from(TeamView, row), actor)


def _contacts_shown(team: TeamView, actor: Actor) -> TeamView:
    """Members' phone numbers and email addresses for the administrator who keeps them; masked for the rest."""
    if actor.role is Role.ADMIN:
        return team
    members = [msgspec.structs.replace(m, phone=m.phone and mask(m.phone), email=m.email and mask(m.email)) for m in team.members]
    return msgspec.structs.replace(team, members=members)


def current_routing_rules(engine: Connectable, actor: Actor) -> RoutingRulesView:
    require(actor, Action.READ_TEAMS)
    query = select(rules).where(rules.c.tenant == actor.tenant).order_by(rules.c.version.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return RoutingRulesView(version=0, rules=[], fallback_team_id=None)
    return struct_from(RoutingRulesView, row)


def teams_of_member(engine: Connectable, tenant: str, user_id: str) -> list[str]:
    """The ids of the tenant's teams this user is a member of, by name: where a ticket given to the
    person alone may go (the command side checks each against the team itself)."""
    query = (
        select(teams.c.id)
        .where(teams.c.tenant == tenant, teams.c.members.contains([{"user_id": user_id}]))
        .order_by(teams.c.name, teams.c.id)
    )
    with engine.connect() as conn:
        return [str(team_id) for team_id in conn.execute(query).scalars()]


def open_counts(engine: Connectable, tenant: str, users: Sequence[str]) -> Mapping[str, int]:
    """How many open (or pending) tickets each of these users holds: what least-open routing weighs."""
    query = (
        select(tickets.c.assignee_id, func.count())
        .where(
            tickets.c.tenant == tenant,
            tickets.c.assignee_id.in_(list(users)),
            tickets.c.status_category.in_(OPEN_CATEGORIES),
            tickets.c.archived.is_(False),
        )
        .group_by(tickets.c.assignee_id)
    )
    with engine.connect() as conn:
        return {assignee: count for assignee, count in conn.execute(query)}


def holds_sensitive(engine: Connectable, tenant: str, team_id: str) -> bool:
    """Whether the team holds an open sensitive ticket: then it must stay restricted."""
    query = select(tickets.c.id).where(
        tickets.c.tenant == tenant,
        tickets.c.team_id == team_id,
        tickets.c.is_sensitive.is_(True),
        tickets.c.status_category.in_(OPEN_CATEGORIES),
        tickets.c.archived.is_(False),
    )
    with engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def my_queue(engine: Connectable, actor: Actor, page: int, page_size: int, include_sensitive: bool = False) -> TicketPage:
    """The caller's assigned, accepted and in-progress tickets, the soonest deadline first."""
    query = scoped(TICKET_ROWS, list_scope(actor, include_sensitive)).where(
        tickets.c.assignee_id == actor.id,
        tickets.c.status_category.in_(OPEN_CATEGORIES),
        tickets.c.archived.is_(False),
    )
    t = tickets.c
    soonest = func.least(case((t.response_met_at.is_(None), t.response_due)), case((t.resolution_met_at.is_(None), t.resolution_due)))
    return page_of(engine, actor, query, [soonest.asc().nulls_last(), tickets.c.created_at, tickets.c.id], page, page_size)
