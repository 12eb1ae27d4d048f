"""Request bodies of the notification endpoints. msgspec checks their shape; the domain
(domain/notification_rules.py) checks what they mean, and both name the field that is wrong."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from api.schemas import Body, Name
from domain.notification_rules import AUTHORS, MESSAGES, NOTIFIABLE_EVENTS, PERSON_CHANNELS, SEND
from domain.notification_templates import LIMITS, MAX_PARAMETERS, PLACEHOLDERS

Placeholder = Literal[tuple(PLACEHOLDERS)]  # type: ignore[valid-type]
Recipient = Annotated[
    str, msgspec.Meta(min_length=1, max_length=254, description="reporter, assignee, team_managers, webhook, an E.164 phone or an email")
]
Names = Annotated[list[Name], msgspec.Meta(max_length=50)]


class WhatsAppTemplateBody(Body, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=512, description="The template's name, as Meta approved it")]
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=6)] = "en"
    parameters: Annotated[list[Placeholder], msgspec.Meta(max_length=MAX_PARAMETERS)] = []


class SMSTemplateBody(Body, frozen=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["sms"])]


class EmailTemplateBody(Body, frozen=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["subject"])]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["text"])]
    html: Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["html"])] | None = None


class TemplatesBody(Body, frozen=True):
    """Per channel; `{placeholder}` of the known names only, `{{`/`}}` for braces."""

    whatsapp: WhatsAppTemplateBody | None = None
    sms: SMSTemplateBody | None = None
    email: EmailTemplateBody | None = None


class NotificationRuleBody(Body, frozen=True):
    name: Name
    event: Literal[NOTIFIABLE_EVENTS]  # type: ignore[valid-type]
    recipients: Annotated[list[Recipient], msgspec.Meta(min_length=1, max_length=20)]
    channels: Annotated[list[Literal[PERSON_CHANNELS]], msgspec.Meta(max_length=3)] | None = None  # type: ignore[valid-type]
    statuses: Names | None = None
    workflows: Names | None = None
    by: Literal[AUTHORS] | None = None  # type: ignore[valid-type]
    send: Literal[SEND] = "first"  # type: ignore[valid-type]
    message: Literal[MESSAGES] | None = None  # type: ignore[valid-type]
    templates: TemplatesBody | None = None


class WebhookBody(Body, frozen=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    secret: Annotated[str, msgspec.Meta(min_length=16, max_length=256)] | None = None  # left out: the current one stays


class NotificationRulesBody(Body, frozen=True):
    rules: Annotated[list[NotificationRuleBody], msgspec.Meta(max_length=100)]
    webhook: WebhookBody | None = None

    def rule_documents(self) -> list[dict[str, Any]]:
        return [_without_nulls(msgspec.to_builtins(rule)) for rule in self.rules]

    def webhook_document(self) -> dict[str, Any] | None:
        return _without_nulls(msgspec.to_builtins(self.webhook)) if self.webhook is not None else None


class SuppressionBody(Body, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value
