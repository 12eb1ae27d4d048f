"""Making an ordinary ticket sensitive, after it was opened: it leaves every ordinary eye."""

from __future__ import annotations

import logging

from commands.app import Docket
from commands.loading import load_ticket
from commands.routing import Workload, offer_for, route_by_rules
from commands.runner import Unit
from commands.structs import Changed, MarkSensitive
from commands.teams import load_team
from commands.tickets import changed
from domain.errors import TicketNotFound
from domain.permissions import Action, Role, may
from domain.team import Team
from domain.ticket import Ticket

log = logging.getLogger(__name__)


def mark_sensitive(app: Docket, workload: Workload, cmd: MarkSensitive) -> Changed:
    """Marks the ticket sensitive; a team that may not hold it lets it go, and the tenant's rules
    give it to a restricted team (where none leads, it waits unrouted for the liaison to assign)."""

    def decide(unit: Unit) -> Ticket:
        ticket = load_ticket(unit, cmd.ticket_id)
        if ticket.tenant != cmd.actor.tenant:
            raise TicketNotFound(ticket.id)
        team = load_team(unit, ticket.team_id, ticket.tenant) if ticket.team_id else None
        ticket.mark_sensitive(cmd.actor, cmd.reason, keeps_team=bool(team and team.is_restricted), keeps_assignee=_may_keep(team, ticket))
        destination = route_by_rules(unit, ticket) if ticket.team_id is None else None
        if destination is not None:
            team, found = destination
            ticket.reroute(offer_for(team, workload, ticket, found.rule, found.reason))
        unit.save(ticket, team)
        return ticket

    def marked(ticket: Ticket, notification_id: int | None) -> Changed:
        log.info("ticket %s made sensitive by %s; now with team %s", ticket.id, cmd.actor.id, ticket.team_id or "none")
        return changed(ticket, notification_id)

    return app.commands.run(decide, marked)


def _may_keep(team: Team | None, ticket: Ticket) -> bool:
    """Whether the assignee may go on holding the ticket once it is sensitive."""
    member = team.members.get(ticket.assignee_id) if team and ticket.assignee_id else None
    return member is not None and may(Role(member.role), Action.READ_SENSITIVE)
