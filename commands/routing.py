"""Routing on the command side: which team by the tenant's rules, which member by the team's strategy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from commands.app import tenant_settings
from commands.runner import Unit
from commands.teams import load_team
from domain.errors import Refused
from domain.permissions import Action, Role, may
from domain.routing import Offer, Route, RoutingFacts, RoutingRules, eligible_members, pick_least_open, pick_round_robin, route
from domain.team import Team
from domain.ticket import Ticket

log = logging.getLogger(__name__)

# Open tickets held by each of these users in a tenant, from the read model: what least-open
# routing and capacities weigh. Injected by the composition root (commands do not read projections).
Workload = Callable[[str, Sequence[str]], Mapping[str, int]]


def no_workload(tenant: str, users: Sequence[str]) -> Mapping[str, int]:
    return {}


# The ids of the tenant's teams a user is a member of, from the read model: where a ticket given
# to the person alone may go. Injected by the composition root, as Workload is.
MemberTeams = Callable[[str, str], Sequence[str]]


def no_member_teams(tenant: str, user_id: str) -> Sequence[str]:
    return ()


def route_on_opening(unit: Unit, workload: Workload, ticket: Ticket) -> Team | None:
    """Where the tenant routes tickets as they open: the offer the new ticket records, if a rule leads anywhere."""
    destination = route_by_rules(unit, ticket)
    if destination is None:
        log.info("ticket %s opened unrouted: no rule or fallback team takes it", ticket.id)
        return None
    team, found = destination
    ticket.route_on_opening(offer_for(team, workload, ticket, found.rule, found.reason))
    return team


def route_by_rules(unit: Unit, ticket: Ticket) -> tuple[Team, Route] | None:
    rules = tenant_settings(unit, RoutingRules, ticket.tenant)
    team_ids = {r.team_id for r in rules.rules} | ({rules.fallback_team_id} if rules.fallback_team_id else set())
    teams = {team_id: load_team(unit, team_id, ticket.tenant) for team_id in team_ids}
    restricted = {team_id for team_id, team in teams.items() if team.is_restricted}
    facts = RoutingFacts(ticket.category, ticket.ward, ticket.workflow.name, ticket.priority, ticket.is_sensitive)
    found = route(rules.rules, rules.fallback_team_id, facts, restricted)
    return (teams[found.team_id], found) if found else None


def offer_for(
    team: Team,
    workload: Workload,
    ticket: Ticket,
    rule: str | None,
    reason: str,
    chosen: str | None = None,
    excluded: set[str] = frozenset(),
) -> Offer:
    """The team's member for this ticket: the one chosen (see check_assignee), else by the team's strategy."""
    if chosen is not None and (team.is_restricted or not ticket.is_sensitive):  # else the ticket refuses the team itself, which says more
        check_assignee(team, ticket, chosen)
    blind = {user_id for user_id, member in team.members.items() if not may_read(member.role, ticket)}
    assignee = chosen if chosen is not None else pick_member(team, workload, ticket, excluded | blind)
    return Offer(
        team_id=str(team.id),
        team_name=team.name,
        team_restricted=team.is_restricted,
        assignee_id=assignee,
        assignee_name=team.member_name(assignee),
        rule=rule,
        reason=reason,
    )


def check_assignee(team: Team | None, ticket: Ticket, assignee_id: str) -> None:
    """The one test of every way a ticket reaches a person (assign, transfer, a move that names an
    assignee): the team holding it may hold it, and the person is a member of it who may read it."""
    if team is None:
        raise Refused("The ticket is with no team; assign it to a team, naming one of its members.", code="no_team", field="assignee_id")
    if ticket.is_sensitive and not team.is_restricted:
        raise Refused(f"A sensitive ticket may only be with a restricted team; {team.name} is not one.", code="team_not_restricted")
    if assignee_id not in team.members:
        raise Refused(f"{assignee_id} is not a member of team {team.name}.", code="not_a_member", field="assignee_id")
    if not may_read(team.members[assignee_id].role, ticket):
        kind = "sensitive" if ticket.is_sensitive else "ordinary"
        raise Refused(
            f"{assignee_id} is a {team.members[assignee_id].role}, who may not read {kind} tickets.",
            code="assignee_may_not_read",
            field="assignee_id",
        )


def team_of(unit: Unit, ticket: Ticket) -> Team | None:
    return load_team(unit, ticket.team_id, ticket.tenant) if ticket.team_id else None


def may_read(role: str, ticket: Ticket) -> bool:
    """Whether a member in this role could see the ticket at all: nobody is given what they may not read."""
    return may(Role(role), Action.READ_SENSITIVE if ticket.is_sensitive else Action.READ_ORDINARY)


def pick_member(team: Team, workload: Workload, ticket: Ticket, excluded: set[str]) -> str | None:
    if team.strategy == "none" or not team.members:
        return None
    members = list(team.members)
    counts = workload(team.tenant, members)
    eligible = eligible_members(members, counts, team.capacity, excluded | ticket.rejected_by)
    if team.strategy == "least_open":
        return pick_least_open(members, counts, eligible)
    picked, rotation = pick_round_robin(members, team.rotation, eligible)
    if picked is not None:
        team.advance_rotation(rotation)
    return picked
