"""Ticket use cases: load, ask the aggregate, save."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar
from uuid import uuid4

import msgspec

from commands.app import Docket, tenant_settings
from commands.loading import check_version, load_ticket
from commands.routing import Workload, check_assignee, no_workload, route_on_opening, team_of
from commands.runner import Unit
from commands.structs import (
    AddReply,
    ArchiveTicket,
    Changed,
    ChangeStatus,
    EditTicket,
    EraseReporter,
    Opened,
    OpenTicket,
    RedactField,
    Replied,
    TicketCommand,
    TransferTicket,
)
from domain.permissions import Role
from domain.sla import SLAPolicies
from domain.tenant import TenantConfig
from domain.ticket import Ticket

log = logging.getLogger(__name__)

T = TypeVar("T")


def open_ticket(app: Docket, cmd: OpenTicket, workload: Workload = no_workload) -> Opened:
    """Opens the ticket under the tenant's workflow and, where the tenant turned it on, routes it."""
    details = {name: value for name, value in msgspec.to_builtins(cmd).items() if name not in ("actor", "workflow")}

    def decide(unit: Unit) -> Ticket:
        config = tenant_settings(unit, TenantConfig, cmd.actor.tenant)
        workflow = config.workflow(cmd.workflow)
        policies = tenant_settings(unit, SLAPolicies, cmd.actor.tenant)
        # A report in one of the tenant's sensitive categories is sensitive whatever the flag said.
        sensitive = cmd.is_sensitive or config.is_sensitive_category(cmd.category)
        ticket = Ticket.open(cmd.actor, app.numbers.issue(cmd.actor.tenant), workflow, **{**details, "is_sensitive": sensitive})
        if policy := policies.policy_for(ticket.sla_facts):
            ticket.start_sla(policy, policies.policies_version)
        team = route_on_opening(unit, workload, ticket) if config.auto_route_on_open else None
        unit.save(ticket, team)
        return ticket

    def opened(ticket: Ticket, notification_id: int | None) -> Opened:
        log.info("opened ticket %s (%s) in tenant %s", ticket.id, ticket.tracking_number, ticket.tenant)
        return Opened(
            id=ticket.id,
            tracking_number=ticket.tracking_number,
            status=ticket.status,
            created_at=ticket.created_on,
            notification_id=notification_id,
        )

    return app.commands.run(decide, opened)


def changed(ticket: Ticket, notification_id: int | None) -> Changed:
    return Changed(id=ticket.id, status=ticket.status, version=ticket.version, notification_id=notification_id)


def change_status(app: Docket, cmd: ChangeStatus) -> Changed:
    def move(ticket: Ticket, unit: Unit) -> None:
        ticket.change_status(cmd.actor, cmd.status, cmd.note, cmd.fields, cmd.note_public)
        if "assignee_id" in cmd.fields:  # a move that gives the ticket to someone (field service): as an assignment would
            check_assignee(team_of(unit, ticket), ticket, ticket.assignee_id)

    return run_ticket_command(app, cmd, move)


def edit_ticket(app: Docket, cmd: EditTicket) -> Changed:
    def edit(ticket: Ticket, unit: Unit) -> None:
        before = (ticket.priority, ticket.category, ticket.ticket_type)
        ticket.edit(cmd.actor, cmd.changes)
        if (ticket.priority, ticket.category, ticket.ticket_type) != before:
            changed = ", ".join(f for f in ("priority", "category", "ticket_type") if f in cmd.changes)
            policies = tenant_settings(unit, SLAPolicies, ticket.tenant)
            ticket.recompute_sla(cmd.actor, policies.policy_for(ticket.sla_facts), policies.policies_version, f"The {changed} changed.")

    return run_ticket_command(app, cmd, edit)


def transfer_ticket(app: Docket, cmd: TransferTicket) -> Changed:
    def transfer(ticket: Ticket, unit: Unit) -> None:
        ticket.transfer(cmd.actor, cmd.assignee_id, cmd.reason)
        check_assignee(team_of(unit, ticket), ticket, ticket.assignee_id)

    return run_ticket_command(app, cmd, transfer)


def archive_ticket(app: Docket, cmd: ArchiveTicket) -> Changed:
    return run_ticket_command(app, cmd, lambda t, _: t.archive(cmd.actor, cmd.reason))


def redact_field(app: Docket, cmd: RedactField) -> Changed:
    return run_ticket_command(app, cmd, lambda t, _: t.redact(cmd.actor, cmd.field, cmd.reason))


def erase_reporter(app: Docket, cmd: EraseReporter) -> Changed:
    """Erases the reporter for good: the Erased event, then the ticket's key, which alone opened
    their details in the stored events, is deleted."""

    def erase(ticket: Ticket, unit: Unit) -> None:
        if ticket.erased:  # an erasure cut short after its event (the key outlived it): finished now
            app.ticket_keys.erase(ticket.id)
        ticket.erase(cmd.actor, cmd.reason)

    def erased(ticket: Ticket, notification_id: int | None) -> Changed:
        app.ticket_keys.erase(ticket.id)
        log.info("ticket %s: the reporter erased by %s", ticket.id, cmd.actor.id)
        return changed(ticket, notification_id)

    return run_ticket_command(app, cmd, erase, erased)


def add_reply(app: Docket, cmd: AddReply) -> Replied:
    reply_id = uuid4()

    def reply(ticket: Ticket, unit: Unit) -> None:
        # Only a reporter's reply can move the ticket, and only where the tenant turned that on.
        moves = cmd.actor.role is Role.REPORTER and tenant_settings(unit, TenantConfig, cmd.actor.tenant).reporter_reply_moves_ticket
        ticket.reply(cmd.actor, reply_id, cmd.body, internal=cmd.internal, is_solution=cmd.is_solution, reporter_reply_moves=moves)

    def replied(ticket: Ticket, notification_id: int | None) -> Replied:
        return Replied(id=reply_id, ticket_id=ticket.id, status=ticket.status, version=ticket.version, notification_id=notification_id)

    return run_ticket_command(app, cmd, reply, replied)


def run_ticket_command(
    app: Docket,
    cmd: TicketCommand,
    act: Callable[[Ticket, Unit], None],
    answer: Callable[[Ticket, int | None], T] = changed,
) -> T:
    """Loads the ticket, lets the aggregate decide, and saves what it recorded, all or nothing."""

    def decide(unit: Unit) -> Ticket:
        ticket = load_ticket(unit, cmd.ticket_id)
        ticket.ensure_visible_to(cmd.actor)
        check_version(ticket, cmd.expected_version)
        act(ticket, unit)
        unit.save(ticket)
        return ticket

    def logged(ticket: Ticket, notification_id: int | None) -> T:
        if notification_id is not None:
            log.info("ticket %s: %s by %s", ticket.id, type(cmd).__name__, cmd.actor.id)
        return answer(ticket, notification_id)

    return app.commands.run(decide, logged, name=_use_case(cmd))


def _use_case(cmd: TicketCommand) -> str:
    """ChangeStatus -> change_status: the metrics name a command by its use case."""
    name = type(cmd).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
