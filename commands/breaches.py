"""The scheduler's use case: a deadline passed."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from commands.app import Docket
from commands.loading import load_ticket
from commands.runner import Unit
from domain.errors import TicketNotFound
from domain.ticket import Ticket

log = logging.getLogger(__name__)


def breach_sla(app: Docket, ticket_id: UUID, kind: str, now: datetime) -> bool:
    """What the scheduler calls at a deadline: records SLABreached and escalates, once."""

    def decide(unit: Unit) -> Ticket | None:
        try:
            ticket = load_ticket(unit, ticket_id)
        except TicketNotFound:
            return None
        if ticket.breach_sla(kind, now):
            unit.save(ticket)
        return ticket

    def breached(ticket: Ticket | None, notification_id: int | None) -> bool:
        if ticket is None or notification_id is None:
            return False
        log.warning(
            "ticket %s (%s) breached its %s deadline; escalation level %s", ticket.id, ticket.tracking_number, kind, ticket.escalation_level
        )
        return True

    return app.commands.run(decide, breached)
