"""The scheduler's use case: a deadline passed."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.app import Docket
from commands.loading import load_ticket
from domain.errors import TicketNotFound, VersionConflict

log = logging.getLogger(__name__)

BREACH_ATTEMPTS = 10


def breach_sla(app: Docket, ticket_id: UUID, kind: str, now: datetime) -> bool:
    """What the scheduler calls at a deadline: records SLABreached and escalates, once."""
    for _ in range(BREACH_ATTEMPTS):
        try:
            ticket = load_ticket(app, ticket_id)
        except TicketNotFound:
            return False
        if not ticket.breach_sla(kind, now):
            return False
        try:
            app.save(ticket)
        except IntegrityError:
            continue  # the ticket changed meanwhile: decide again on its new state
        log.warning(
            "ticket %s (%s) breached its %s deadline; escalation level %s", ticket.id, ticket.tracking_number, kind, ticket.escalation_level
        )
        return True
    raise VersionConflict(f"Ticket {ticket_id} kept changing while recording its {kind} breach.")
