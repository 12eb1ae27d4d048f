"""Ticket use cases: load, ask the aggregate, save."""

from __future__ import annotations

import logging

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from commands.app import Docket, last_notification_id
from commands.structs import ChangeStatus, Changed, OpenTicket, Opened
from domain.errors import TicketNotFound, VersionConflict
from domain.ticket import Ticket, TrackingNumbers, tracking_numbers_id
from domain.workflow import workflow_named

log = logging.getLogger(__name__)

# Opening a ticket advances the tenant's tracking-number counter, so two concurrent
# opens in one tenant conflict on it; the loser simply draws the next number.
OPEN_ATTEMPTS = 50


def open_ticket(app: Docket, cmd: OpenTicket) -> Opened:
    workflow = workflow_named(cmd.workflow)
    location = {"lat": cmd.location.lat, "lon": cmd.location.lon} if cmd.location else None
    for _ in range(OPEN_ATTEMPTS):
        numbers = _tracking_numbers(app, cmd.actor.tenant)
        ticket = Ticket.open(
            cmd.actor,
            numbers.issue(),
            workflow,
            title=cmd.title,
            description=cmd.description,
            category=cmd.category,
            priority=cmd.priority,
            ward=cmd.ward,
            location=location,
            is_sensitive=cmd.is_sensitive,
        )
        try:
            recordings = app.save(numbers, ticket)
        except IntegrityError:
            continue
        log.info("opened ticket %s (%s) in tenant %s", ticket.id, ticket.tracking_number, ticket.tenant)
        return Opened(
            id=ticket.id,
            tracking_number=ticket.tracking_number,
            status=ticket.status,
            created_at=ticket.created_on,
            notification_id=last_notification_id(recordings),
        )
    raise VersionConflict("Too many tickets are being opened at once in this tenant; try again.")


def change_status(app: Docket, cmd: ChangeStatus) -> Changed:
    ticket = load_ticket(app, cmd.ticket_id)
    ticket.ensure_visible_to(cmd.actor)
    if cmd.expected_version is not None and cmd.expected_version != ticket.version:
        raise VersionConflict(
            f"Ticket {ticket.id} is at version {ticket.version}, not {cmd.expected_version}; reload it and retry."
        )
    ticket.change_status(cmd.actor, cmd.status, cmd.note)
    recordings = _save(app, ticket)
    log.info("ticket %s moved to %s by %s", ticket.id, ticket.status, cmd.actor.id)
    return Changed(
        id=ticket.id,
        status=ticket.status,
        version=ticket.version,
        notification_id=last_notification_id(recordings),
    )


def load_ticket(app: Docket, ticket_id) -> Ticket:
    try:
        ticket = app.repository.get(ticket_id)
    except AggregateNotFoundError:
        raise TicketNotFound(ticket_id) from None
    if not isinstance(ticket, Ticket):
        raise TicketNotFound(ticket_id)
    return ticket


def _save(app: Docket, ticket: Ticket) -> list:
    try:
        return app.save(ticket)
    except IntegrityError:
        raise VersionConflict(
            f"Ticket {ticket.id} was changed by someone else at the same time; reload it and retry."
        ) from None


def _tracking_numbers(app: Docket, tenant: str) -> TrackingNumbers:
    try:
        return app.repository.get(tracking_numbers_id(tenant))
    except AggregateNotFoundError:
        return TrackingNumbers(tenant=tenant)
