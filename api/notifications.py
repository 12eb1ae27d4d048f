"""Notifications: the tenant's rules and webhook, a ticket's deliveries and its reporter's
opt-out, and the suppression list."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody, PathParameter

from api.notification_schemas import NotificationRulesBody, SuppressionBody
from api.tickets import Caller, Page, PageSize, TicketId, TicketRef, Used
from commands.notifications import (
    ChangeOptOut,
    ChangeSuppression,
    NotificationRulesSaved,
    NotificationRulesView,
    OptOutSaved,
    SetNotificationRules,
    SuppressionSaved,
    change_opt_out,
    change_suppression,
    notification_rules,
    set_notification_rules,
    suppression,
)
from projections.notification_queries import DeliveryPage, ticket_notifications

Address = Annotated[
    str, PathParameter(min_length=1, max_length=254, description="An E.164 phone number (+27821234567) or an email address")
]


class NotificationRulesController(Controller):
    path = "/api/v1/notification-rules"
    tags = ["notifications"]

    @get(
        "/",
        operation_id="getNotificationRules",
        summary="The notification rules in force (the defaults until the tenant sets its own)",
        sync_to_thread=True,
    )
    def detail(self, actor: Caller, services: Used) -> NotificationRulesView:
        return notification_rules(services.app, actor)

    @put(
        "/",
        operation_id="setNotificationRules",
        summary="Replace the notification rules and webhook: a new version (admin)",
        sync_to_thread=True,
    )
    def replace(self, data: JSONBody[NotificationRulesBody], actor: Caller, services: Used) -> NotificationRulesSaved:
        command = SetNotificationRules(
            actor=actor,
            rules=data.rule_documents(),
            webhook=data.webhook_document(),
            allow_private_webhooks=services.webhook_allow_private,
        )
        return set_notification_rules(services.app, command)


class TicketNotificationsController(Controller):
    path = "/api/v1/tickets"
    tags = ["notifications"]

    @get(
        "/{ticket_id:str}/notifications",
        operation_id="listTicketNotifications",
        summary="Who was told what of a ticket, by which channel, and how it went (recipients masked)",
    )
    async def list(self, ticket_id: TicketRef, actor: Caller, services: Used, page: Page = 1, page_size: PageSize = 50) -> DeliveryPage:
        return await services.reads.run(ticket_notifications, actor, ticket_id, page, page_size)

    @post(
        "/{ticket_id:uuid}/notifications/opt-out",
        operation_id="optOutOfTicketNotifications",
        summary="The reporter takes no more messages about their ticket",
        status_code=200,
        sync_to_thread=True,
    )
    def opt_out(self, ticket_id: TicketId, actor: Caller, services: Used) -> OptOutSaved:
        return change_opt_out(services.app, ChangeOptOut(actor=actor, ticket_id=ticket_id, opted_out=True))

    @delete(
        "/{ticket_id:uuid}/notifications/opt-out",
        operation_id="optBackInToTicketNotifications",
        summary="The reporter takes messages about their ticket again",
        status_code=200,
        sync_to_thread=True,
    )
    def opt_in(self, ticket_id: TicketId, actor: Caller, services: Used) -> OptOutSaved:
        return change_opt_out(services.app, ChangeOptOut(actor=actor, ticket_id=ticket_id, opted_out=False))


class SuppressionController(Controller):
    path = "/api/v1/suppressions"
    tags = ["notifications"]

    @get(
        "/{address:str}",
        operation_id="getSuppression",
        summary="Whether an address is on the suppression list (admin)",
        sync_to_thread=True,
    )
    def detail(self, address: Address, actor: Caller, services: Used) -> SuppressionSaved:
        return suppression(services.app, actor, address)

    @put("/{address:str}", operation_id="suppressAddress", summary="Put an address on the suppression list (admin)", sync_to_thread=True)
    def suppress(self, address: Address, actor: Caller, services: Used, data: JSONBody[SuppressionBody | None] = None) -> SuppressionSaved:
        reason = data.reason if data is not None else None
        return change_suppression(services.app, ChangeSuppression(actor=actor, address=address, suppressed=True, reason=reason))

    @delete(
        "/{address:str}",
        operation_id="liftSuppression",
        summary="Take an address off the suppression list (admin)",
        status_code=200,
        sync_to_thread=True,
    )
    def lift(self, address: Address, actor: Caller, services: Used) -> SuppressionSaved:
        return change_suppression(services.app, ChangeSuppression(actor=actor, address=address, suppressed=False))
