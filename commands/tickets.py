"""Ticket use cases: load, ask the aggregate, save."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import uuid4

import msgspec
from eventsourcing.persistence import IntegrityError

from commands.app import Docket, last_notification_id, tenant_aggregate
from commands.loading import check_version, load_ticket
from commands.routing import Workload, no_workload, route_on_opening
from commands.structs import (
    AddReply,
    ArchiveTicket,
    Changed,
    ChangeStatus,
    EditTicket,
    Opened,
    OpenTicket,
    RedactField,
    Replied,
    TicketCommand,
    TransferTicket,
)
from domain.errors import VersionConflict
from domain.permissions import Role
from domain.sla import SLAPolicies
from domain.tenant import TenantConfig
from domain.ticket import Ticket
from domain.tracking import TrackingNumbers

log = logging.getLogger(__name__)

# Opening a ticket advances the tenant's tracking-number counter, so two concurrent
# opens in one tenant conflict on it; the loser simply draws the next number.
OPEN_ATTEMPTS = 50


def open_ticket(app: Docket, cmd: OpenTicket, workload: Workload = no_workload) -> Opened:
    """Opens the ticket under the tenant's workflow and, where the tenant turned it on, routes it."""
    config = tenant_aggregate(app, TenantConfig, cmd.actor.tenant)
    workflow = config.workflow(cmd.workflow)
    policies = tenant_aggregate(app, SLAPolicies, cmd.actor.tenant)
    details = {name: value for name, value in msgspec.to_builtins(cmd).items() if name not in ("actor", "workflow")}
    for _ in range(OPEN_ATTEMPTS):
        numbers = tenant_aggregate(app, TrackingNumbers, cmd.actor.tenant)
        ticket = Ticket.open(cmd.actor, numbers.issue(), workflow, **details)
        if policy := policies.policy_for(ticket.sla_facts):
            ticket.start_sla(policy, policies.policies_version)
        team = route_on_opening(app, workload, ticket) if config.auto_route_on_open else None
        try:
            recordings = app.save(numbers, ticket, *([team] if team else []))
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
    return _changed(*run_ticket_command(app, cmd, lambda t: t.change_status(cmd.actor, cmd.status, cmd.note, cmd.fields, cmd.note_public)))


def edit_ticket(app: Docket, cmd: EditTicket) -> Changed:
    def edit(ticket: Ticket) -> None:
        before = (ticket.priority, ticket.category, ticket.ticket_type)
        ticket.edit(cmd.actor, cmd.changes)
        if (ticket.priority, ticket.category, ticket.ticket_type) != before:
            changed = ", ".join(f for f in ("priority", "category", "ticket_type") if f in cmd.changes)
            policies = tenant_aggregate(app, SLAPolicies, ticket.tenant)
            ticket.recompute_sla(cmd.actor, policies.policy_for(ticket.sla_facts), policies.policies_version, f"The {changed} changed.")

    return _changed(*run_ticket_command(app, cmd, edit))


def transfer_ticket(app: Docket, cmd: TransferTicket) -> Changed:
    return _changed(*run_ticket_command(app, cmd, lambda t: t.transfer(cmd.actor, cmd.assignee_id, cmd.reason)))


def archive_ticket(app: Docket, cmd: ArchiveTicket) -> Changed:
    return _changed(*run_ticket_command(app, cmd, lambda t: t.archive(cmd.actor, cmd.reason)))


def redact_field(app: Docket, cmd: RedactField) -> Changed:
    return _changed(*run_ticket_command(app, cmd, lambda t: t.redact(cmd.actor, cmd.field, cmd.reason)))


def add_reply(app: Docket, cmd: AddReply) -> Replied:
    # Only a reporter's reply can move the ticket, and only where the tenant turned that on.
    moves = cmd.actor.role is Role.REPORTER and tenant_aggregate(app, TenantConfig, cmd.actor.tenant).reporter_reply_moves_ticket
    reply_id = uuid4()
    ticket, recordings = run_ticket_command(
        app,
        cmd,
        lambda t: t.reply(cmd.actor, reply_id, cmd.body, internal=cmd.internal, is_solution=cmd.is_solution, reporter_reply_moves=moves),
    )
    return Replied(
        id=reply_id, ticket_id=ticket.id, status=ticket.status, version=ticket.version, notification_id=last_notification_id(recordings)
    )


def run_ticket_command(app: Docket, cmd: TicketCommand, act: Callable[[Ticket], None]) -> tuple[Ticket, list]:
    """Loads the ticket, lets the aggregate decide, and saves what it recorded, all or nothing."""
    ticket = load_ticket(app, cmd.ticket_id)
    ticket.ensure_visible_to(cmd.actor)
    check_version(ticket, cmd.expected_version)
    act(ticket)
    try:
        recordings = app.save(ticket)
    except IntegrityError:
        raise VersionConflict(f"Ticket {ticket.id} was changed by someone else at the same time; reload it and retry.") from None
    if recordings:
        log.info("ticket %s: %s by %s", ticket.id, ", ".join(type(r.domain_event).__name__ for r in recordings), cmd.actor.id)
    return ticket, recordings


def _changed(ticket: Ticket, recordings: list) -> Changed:
    return Changed(id=ticket.id, status=ticket.status, version=ticket.version, notification_id=last_notification_id(recordings))
