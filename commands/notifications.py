"""Notification use cases: the tenant's rules and webhook, a reporter's opt-out, the suppression list."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError

from commands.app import Docket, tenant_aggregate
from commands.loading import load_ticket
from commands.runner import Unit
from domain.contacts import mask, normalise_address
from domain.errors import Invalid, NotFound
from domain.notification_prefs import NotificationOptOut, Suppression, suppression_id
from domain.notification_rules import NotificationRules
from domain.permissions import Action, Actor, require

log = logging.getLogger(__name__)


class SetNotificationRules(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    rules: list[dict[str, Any]]
    webhook: dict[str, Any] | None = None
    allow_private_webhooks: bool = False  # DOCKET_WEBHOOK_ALLOW_PRIVATE, from the composition root


class NotificationRulesSaved(msgspec.Struct, frozen=True):
    version: int
    notification_id: int | None


class WebhookView(msgspec.Struct, frozen=True):
    url: str
    secret_set: bool = True  # the secret itself is never answered


class NotificationRulesView(msgspec.Struct, frozen=True):
    version: int  # 0: the tenant set none, and the defaults hold
    defaults: bool
    rules: list[dict[str, Any]]
    webhook: WebhookView | None = None
    set_by: str | None = None
    set_at: datetime | None = None


class ChangeOptOut(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    ticket_id: UUID
    opted_out: bool = True


class OptOutSaved(msgspec.Struct, frozen=True):
    ticket_id: UUID
    opted_out: bool
    notification_id: int | None  # None when it was so already


class ChangeSuppression(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    address: str
    suppressed: bool = True
    reason: str | None = None


class SuppressionSaved(msgspec.Struct, frozen=True):
    address: str  # masked
    suppressed: bool
    reason: str | None
    notification_id: int | None


def set_notification_rules(app: Docket, cmd: SetNotificationRules) -> NotificationRulesSaved:
    def decide(unit: Unit) -> NotificationRules:
        rules = tenant_aggregate(unit, NotificationRules, cmd.actor.tenant)
        rules.replace(cmd.actor, cmd.rules, cmd.webhook, cmd.allow_private_webhooks)
        unit.save(rules)
        return rules

    def saved(rules: NotificationRules, notification_id: int | None) -> NotificationRulesSaved:
        log.info("tenant %s set notification rules version %s", rules.tenant, rules.version_number)
        return NotificationRulesSaved(version=rules.version_number, notification_id=notification_id)

    return app.commands.run(decide, saved)


def notification_rules(app: Docket, actor: Actor) -> NotificationRulesView:
    """The rules in force, as the notifier reads them: from the configuration cache that the rules'
    own events keep current (a tenant has one small rules aggregate; no read model is needed)."""
    require(actor, Action.READ_NOTIFICATION_RULES)
    try:
        rules: NotificationRules = app.config.get(NotificationRules.create_id(actor.tenant))
    except AggregateNotFoundError:
        rules = NotificationRules(tenant=actor.tenant)
    webhook = WebhookView(url=rules.webhook_url) if rules.webhook_url else None
    return NotificationRulesView(
        version=rules.version_number,
        defaults=rules.version_number == 0,
        rules=[rule.to_document() for rule in rules.in_force],
        webhook=webhook,
        set_by=rules.set_by,
        set_at=rules.modified_on if rules.version_number else None,
    )


def change_opt_out(app: Docket, cmd: ChangeOptOut) -> OptOutSaved:
    """The reporter stops (or restarts) their ticket's messages; sensitive tickets too, always
    their own reporter's to decide."""

    def decide(unit: Unit) -> NotificationOptOut:
        ticket = load_ticket(unit, cmd.ticket_id)
        ticket.ensure_visible_to(cmd.actor)
        try:
            choice = unit.get(NotificationOptOut.create_id(ticket.id))
        except AggregateNotFoundError:
            choice = NotificationOptOut(tenant=ticket.tenant, ticket_id=ticket.id)
        choice.change(cmd.actor, ticket.reporter_id, cmd.opted_out)
        unit.save(choice)
        return choice

    def saved(choice: NotificationOptOut, notification_id: int | None) -> OptOutSaved:
        if notification_id is not None:
            log.info("the reporter of ticket %s opted %s", choice.ticket_id, "out of its messages" if choice.opted_out else "back in")
        return OptOutSaved(ticket_id=choice.ticket_id, opted_out=choice.opted_out, notification_id=notification_id)

    return app.commands.run(decide, saved)


def change_suppression(app: Docket, cmd: ChangeSuppression) -> SuppressionSaved:
    require(cmd.actor, Action.MANAGE_NOTIFICATIONS)
    address = checked_address(cmd.address)
    reason = cmd.reason.strip() if cmd.reason and cmd.reason.strip() else None

    def decide(unit: Unit) -> Suppression:
        try:
            entry = unit.get(suppression_id(cmd.actor.tenant, address))
        except AggregateNotFoundError:
            if not cmd.suppressed:
                raise NotFound("The address is not on the suppression list.", code="not_suppressed", field="address") from None
            entry = Suppression(tenant=cmd.actor.tenant, address=address)
        if cmd.suppressed:
            entry.suppress(cmd.actor, reason)
        else:
            entry.lift(cmd.actor)
        unit.save(entry)
        return entry

    def saved(entry: Suppression, notification_id: int | None) -> SuppressionSaved:
        return SuppressionSaved(address=mask(address), suppressed=entry.suppressed, reason=entry.reason, notification_id=notification_id)

    return app.commands.run(decide, saved)


def suppression(app: Docket, actor: Actor, raw_address: str) -> SuppressionSaved:
    """Whether an address is suppressed: read from its own small aggregate, by id."""
    require(actor, Action.MANAGE_NOTIFICATIONS)
    address = checked_address(raw_address)
    try:
        entry: Suppression = app.repository.get(suppression_id(actor.tenant, address))
    except AggregateNotFoundError:
        return SuppressionSaved(address=mask(address), suppressed=False, reason=None, notification_id=None)
    return SuppressionSaved(address=mask(address), suppressed=entry.suppressed, reason=entry.reason, notification_id=None)


def checked_address(raw: str) -> str:
    try:
        return normalise_address(raw)
    except ValueError as error:
        raise Invalid(f"address: an E.164 phone number or an email address ({error}).", code="invalid_address", field="address") from None
