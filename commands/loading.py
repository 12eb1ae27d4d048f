"""Loading a ticket for a command."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.runner import Store
from domain.errors import TicketNotFound, VersionConflict
from domain.ticket import Ticket


def load_ticket(store: Store, ticket_id: UUID) -> Ticket:
    try:
        ticket = store.get(ticket_id)
    except AggregateNotFoundError:
        raise TicketNotFound(ticket_id) from None
    if not isinstance(ticket, Ticket):
        raise TicketNotFound(ticket_id)
    return ticket


def check_version(ticket: Ticket, expected: int | None) -> None:
    if expected is not None and expected != ticket.version:
        raise VersionConflict(f"Ticket {ticket.id} is at version {ticket.version}, not {expected}; reload it and retry.")
