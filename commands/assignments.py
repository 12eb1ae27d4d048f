"""Assignment use cases: route or assign a ticket, accept, reject (and offer it on), unassign."""

from __future__ import annotations

import logging

from commands.app import Docket
from commands.loading import check_version, load_ticket
from commands.routing import Workload, offer_for, route_by_rules
from commands.runner import Unit
from commands.structs import AcceptTicket, Assignment, AssignTicket, RejectTicket, UnassignTicket
from commands.teams import load_team
from commands.tickets import run_ticket_command
from domain.errors import Invalid, Refused
from domain.permissions import Action, require
from domain.team import Team
from domain.ticket import Ticket

log = logging.getLogger(__name__)


def assign_ticket(app: Docket, workload: Workload, cmd: AssignTicket) -> Assignment:
    def decide(unit: Unit) -> Ticket:
        ticket = load_ticket(unit, cmd.ticket_id)
        ticket.ensure_visible_to(cmd.actor)
        # The role first: a caller who may not assign learns nothing of teams, members or rules.
        require(cmd.actor, Action.ASSIGN)
        check_version(ticket, cmd.expected_version)
        team, rule, reason = _destination(unit, ticket, cmd)
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


def _destination(unit: Unit, ticket: Ticket, cmd: AssignTicket) -> tuple[Team, str | None, str]:
    if cmd.team_id is not None:
        return load_team(unit, cmd.team_id, ticket.tenant), None, cmd.reason or f"assigned by {cmd.actor.id}"
    if cmd.assignee_id is not None:
        raise Invalid(
            "Name the team the assignee belongs to, or neither to let the routing rules choose.", code="missing_field", field="team_id"
        )
    destination = route_by_rules(unit, ticket)
    if destination is None:
        kind = "restricted team for a sensitive ticket" if ticket.is_sensitive else "team"
        raise Refused(f"No routing rule leads to a {kind}, and no fallback team takes it; name a team.", code="no_route")
    team, found = destination
    return team, found.rule, found.reason


def _assignment(ticket: Ticket, notification_id: int | None) -> Assignment:
    return Assignment(
        id=ticket.id,
        status=ticket.status,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
        version=ticket.version,
        notification_id=notification_id,
    )
