"""Assignment use cases: route or assign a ticket, accept, reject (and offer it on), unassign."""

from __future__ import annotations

import logging

from commands.app import Docket
from commands.loading import check_version, load_ticket
from commands.routing import MemberTeams, Workload, check_assignee, no_member_teams, offer_for, route_by_rules, team_of
from commands.runner import Unit
from commands.structs import AcceptTicket, Assignment, AssignTicket, RejectTicket, UnassignTicket
from commands.teams import load_team
from commands.tickets import run_ticket_command
from domain.errors import NotFound, Refused
from domain.permissions import Action, require
from domain.team import Team
from domain.ticket import Ticket

log = logging.getLogger(__name__)


def assign_ticket(app: Docket, workload: Workload, cmd: AssignTicket, member_teams: MemberTeams = no_member_teams) -> Assignment:
    def decide(unit: Unit) -> Ticket:
        ticket = load_ticket(unit, cmd.ticket_id)
        ticket.ensure_visible_to(cmd.actor)
        # The role first: a caller who may not assign learns nothing of teams, members or rules.
        require(cmd.actor, Action.ASSIGN)
        check_version(ticket, cmd.expected_version)
        team, rule, reason = _destination(unit, ticket, cmd, member_teams)
        offer = offer_for(team, workload, ticket, rule, reason, chosen=cmd.assignee_id)
        ticket.assign(cmd.actor, offer)
        unit.save(ticket, team)
        return ticket

    def assigned(ticket: Ticket, notification_id: int | None) -> Assignment:
        log.info("ticket %s assigned to team %s, assignee %s", ticket.id, ticket.team_id, ticket.assignee_id)
        return _assignment(ticket, notification_id)

    return app.commands.run(decide, assigned)


def accept_ticket(app: Docket, cmd: AcceptTicket) -> Assignment:
    return run_ticket_command(app, cmd, lambda t, _: t.accept(cmd.actor), _assignment)


def unassign_ticket(app: Docket, cmd: UnassignTicket) -> Assignment:
    return run_ticket_command(app, cmd, lambda t, _: t.unassign(cmd.actor, cmd.reason), _assignment)


def reject_ticket(app: Docket, workload: Workload, cmd: RejectTicket) -> Assignment:
    """The assignee turns the ticket down; with round-robin or least-open it is offered to the next member."""

    def decide(unit: Unit) -> Ticket:
        ticket = load_ticket(unit, cmd.ticket_id)
        ticket.ensure_visible_to(cmd.actor)
        check_version(ticket, cmd.expected_version)
        team = load_team(unit, ticket.team_id, ticket.tenant) if ticket.team_id else None
        next_offer = None
        if team is not None:
            reason = f"offered on after {cmd.actor.id} turned it down"
            next_offer = offer_for(team, workload, ticket, None, reason, excluded={cmd.actor.id})
            next_offer = next_offer if next_offer.assignee_id else None
        ticket.reject(cmd.actor, cmd.reason, next_offer)
        unit.save(ticket, team)
        return ticket

    def rejected(ticket: Ticket, notification_id: int | None) -> Assignment:
        log.info("ticket %s rejected by %s; now with %s", ticket.id, cmd.actor.id, ticket.assignee_id or "the team queue")
        return _assignment(ticket, notification_id)

    return app.commands.run(decide, rejected)


def _destination(unit: Unit, ticket: Ticket, cmd: AssignTicket, member_teams: MemberTeams) -> tuple[Team, str | None, str]:
    if cmd.team_id is not None:
        return load_team(unit, cmd.team_id, ticket.tenant), None, cmd.reason or f"assigned by {cmd.actor.id}"
    if cmd.assignee_id is not None:
        return team_for_person(unit, ticket, cmd.assignee_id, member_teams), None, cmd.reason or f"assigned by {cmd.actor.id}"
    destination = route_by_rules(unit, ticket)
    if destination is None:
        kind = "restricted team for a sensitive ticket" if ticket.is_sensitive else "team"
        raise Refused(f"No routing rule leads to a {kind}, and no fallback team takes it; name a team.", code="no_route")
    team, found = destination
    return team, found.rule, found.reason


def team_for_person(unit: Unit, ticket: Ticket, assignee_id: str, member_teams: MemberTeams) -> Team:
    """Where a ticket given to a person alone goes: the team holding it when they are of it, else
    their only team that may hold it (check_assignee, the test of every assignee path, says which
    may). Several such teams are a choice for the caller, never a guess."""
    held = team_of(unit, ticket)
    if held is not None and assignee_id in held.members:
        return held  # offer_for checks the person against it, as for any named assignee
    candidates = [team for team in _teams_of(unit, ticket, assignee_id, member_teams) if _may_hold(team, ticket, assignee_id)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        listed = ", ".join(f"{team.name} ({team.id})" for team in candidates)
        raise Refused(
            f"{assignee_id} is a member of several teams that may hold this ticket: {listed}; name one as team_id.",
            code="several_teams",
            field="team_id",
        )
    if held is not None:
        check_assignee(held, ticket, assignee_id)  # says why the team holding it cannot give it to them
    raise Refused(
        f"{assignee_id} is a member of no team that may hold this ticket; add them to one, or name the team.",
        code="no_team_for_assignee",
        field="assignee_id",
    )


def _teams_of(unit: Unit, ticket: Ticket, assignee_id: str, member_teams: MemberTeams) -> list[Team]:
    """The person's teams as the read model lists them, each loaded from its own events (one
    removed since is skipped)."""
    found = []
    for team_id in member_teams(ticket.tenant, assignee_id):
        try:
            found.append(load_team(unit, team_id, ticket.tenant))
        except NotFound:
            continue
    return found


def _may_hold(team: Team, ticket: Ticket, assignee_id: str) -> bool:
    try:
        check_assignee(team, ticket, assignee_id)
    except Refused:
        return False
    return True


def _assignment(ticket: Ticket, notification_id: int | None) -> Assignment:
    return Assignment(
        id=ticket.id,
        status=ticket.status,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
        version=ticket.version,
        notification_id=notification_id,
    )
