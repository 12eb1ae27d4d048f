"""Notification rules: which event of a ticket tells whom, on which channels, in which words.

Per tenant, versioned like routing rules: each replacement is a new version, and a tenant that
never set any has the defaults, which follow what the systems Docket replaces sent (a citizen
told of status changes by WhatsApp, a field-service subscriber and technician by SMS and email,
a help-desk customer by email, managers of breaches and escalations).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.contacts import address_kind, normalise_address
from domain.errors import Invalid
from domain.ids import tenant_aggregate_id
from domain.notification_templates import DEFAULT_TEMPLATES, check_templates
from domain.permissions import STAFF, Action, Actor, require
from domain.webhook_urls import check_webhook_url

# Ticket events a rule may name (the relay publishes each on docket.<tenant>.tickets.<event>).
NOTIFIABLE_EVENTS = (
    "Opened", "StatusChanged", "ReplyAdded", "Assigned", "Transferred", "AssignmentAccepted", "AssignmentRejected", "Unassigned",
    "Edited", "AttachmentAdded", "Archived", "SLABreached", "Escalated",
)  # fmt: skip
PERSON_CHANNELS = ("whatsapp", "sms", "email")
CHANNELS = (*PERSON_CHANNELS, "webhook")
# Who a rule may name, besides a fixed address: roles are resolved per ticket when it is sent.
RECIPIENTS = ("reporter", "assignee", "team_managers", "webhook")
AUTHORS = ("staff", "reporter", "system")
SEND = ("first", "all")
MESSAGES = tuple(DEFAULT_TEMPLATES)
RULE_KEYS = ("name", "event", "statuses", "workflows", "by", "recipients", "channels", "send", "message", "templates")
MAX_RULES = 100
MAX_RECIPIENTS = 20
MAX_LIST = 50
LABEL = re.compile(r"^[\w.:@/-]{1,64}$")
SECRET = re.compile(r"^[\x21-\x7e]{16,256}$")
# The default template set of a rule that names none, by its event.
MESSAGE_FOR_EVENT = {
    "Opened": "ticket_created",
    "Assigned": "job_assigned",
    "Transferred": "job_assigned",
    "SLABreached": "sla_breach",
    "Escalated": "escalated",
    "ReplyAdded": "reply",
}


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What a rule looks at in one event of a ticket."""

    event: str
    workflow: str | None  # None: not known yet, as before the ticket is read (a rule of any workflow may match)
    to_status: str | None = None
    actor_role: str = "system"
    internal: bool = False


@dataclass(frozen=True, slots=True)
class NotificationRule:
    name: str
    event: str
    recipients: tuple[str, ...]
    channels: tuple[str, ...] = PERSON_CHANNELS  # in order of preference
    statuses: tuple[str, ...] = ()  # StatusChanged only: the statuses moved to; none, any
    workflows: tuple[str, ...] = ()  # none: tickets of any workflow
    by: str | None = None  # who acted: staff, the reporter, or Docket itself (system); None, anyone
    send: str = "first"  # first: the first channel that reaches the recipient; all: every one that does
    message: str = "status_update"  # the default templates it started from
    templates: Mapping[str, Any] = field(default_factory=dict)  # channel -> template, defaults filled in

    def matches(self, facts: EventFacts) -> bool:
        """Whether the event triggers the rule. An internal note triggers none: staff-only words
        never start a message, whoever it would go to."""
        if facts.internal or facts.event != self.event:
            return False
        if self.workflows and facts.workflow is not None and facts.workflow not in self.workflows:
            return False
        if self.statuses and facts.to_status not in self.statuses:
            return False
        return self.by is None or author_of(facts.actor_role) == self.by

    def to_document(self) -> dict[str, Any]:
        document = {
            "name": self.name,
            "event": self.event,
            "recipients": list(self.recipients),
            "channels": list(self.channels),
            "send": self.send,
            "message": self.message,
            "templates": {channel: dict(template) for channel, template in self.templates.items()},
        }
        for key in ("statuses", "workflows"):
            if getattr(self, key):
                document[key] = list(getattr(self, key))
        if self.by is not None:
            document["by"] = self.by
        return document


def author_of(actor_role: str) -> str:
    if actor_role in {role.value for role in STAFF}:
        return "staff"
    return "reporter" if actor_role == "reporter" else "system"


def matching(rules: Sequence[NotificationRule], facts: EventFacts) -> list[NotificationRule]:
    return [rule for rule in rules if rule.matches(facts)]


def parse_rules(raw: Any, webhook: bool) -> list[NotificationRule]:
    """The rules of a document, each checked and completed with its default templates; a 400
    naming the first field that is wrong (`rules[2].templates.sms.body`, say)."""
    if not isinstance(raw, list):
        raise Invalid("rules is a list of rules.", code="invalid_rules", field="rules")
    if len(raw) > MAX_RULES:
        raise Invalid(f"At most {MAX_RULES} rules.", code="invalid_rules", field="rules")
    rules = [parse_rule(index, item, webhook) for index, item in enumerate(raw)]
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise Invalid(f"Two rules are named '{duplicate}': each needs its own name.", code="duplicate_rule", field="rules")
    return rules


def parse_rule(index: int, raw: Any, webhook: bool) -> NotificationRule:
    where = f"rules[{index}]"
    if not isinstance(raw, Mapping):
        raise Invalid(f"{where} is an object.", code="invalid_rules", field=where)
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise Invalid(
            f"{where} has no field '{unknown[0]}'; fields: {', '.join(RULE_KEYS)}.", code="invalid_rules", field=f"{where}.{unknown[0]}"
        )
    name = _text(f"{where}.name", raw.get("name"))
    event_name = _choice(f"{where}.event", raw.get("event"), NOTIFIABLE_EVENTS)
    statuses = _labels(f"{where}.statuses", raw.get("statuses"))
    if statuses and event_name != "StatusChanged":
        raise Invalid(f"{where}.statuses applies to StatusChanged only.", code="invalid_rules", field=f"{where}.statuses")
    recipients = _recipients(f"{where}.recipients", raw.get("recipients"), webhook)
    channels = _channels(f"{where}.channels", raw.get("channels"), recipients)
    message = _choice(f"{where}.message", raw.get("message", MESSAGE_FOR_EVENT.get(event_name, "status_update")), MESSAGES)
    return NotificationRule(
        name=name,
        event=event_name,
        recipients=recipients,
        channels=channels,
        statuses=statuses,
        workflows=_labels(f"{where}.workflows", raw.get("workflows")),
        by=None if raw.get("by") is None else _choice(f"{where}.by", raw.get("by"), AUTHORS),
        send=_choice(f"{where}.send", raw.get("send", "first"), SEND),
        message=message,
        templates=check_templates(f"{where}.templates", raw.get("templates"), channels, DEFAULT_TEMPLATES[message]),
    )


def _recipients(field: str, raw: Any, webhook: bool) -> tuple[str, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RECIPIENTS:
        raise Invalid(f"{field} lists 1 to {MAX_RECIPIENTS} recipients.", code="invalid_recipients", field=field)
    checked = []
    for index, item in enumerate(raw):
        here = f"{field}[{index}]"
        if item in RECIPIENTS:
            if item == "webhook" and not webhook:
                raise Invalid(f"{here} is the tenant's webhook, and none is set: give webhook.url.", code="no_webhook", field=here)
            checked.append(item)
            continue
        try:
            checked.append(normalise_address(item))
        except ValueError as error:
            raise Invalid(
                f"{here} is one of {', '.join(RECIPIENTS)}, an E.164 phone number or an email address ({error}).",
                code="invalid_recipients",
                field=here,
            ) from None
    return tuple(dict.fromkeys(checked))


def _channels(field: str, raw: Any, recipients: tuple[str, ...]) -> tuple[str, ...]:
    people = [r for r in recipients if r != "webhook"]
    if raw is None:
        raw = list(PERSON_CHANNELS) if people else []
    if not isinstance(raw, list) or len(raw) > len(PERSON_CHANNELS) or (people and not raw) or (raw and not people):
        raise Invalid(
            f"{field} lists the channels to people in order of preference ({', '.join(PERSON_CHANNELS)}); none for the webhook alone.",
            code="invalid_channels",
            field=field,
        )
    for index, channel in enumerate(raw):
        if channel == "webhook":
            raise Invalid(
                f"{field}[{index}]: the webhook is a recipient, not a channel: name 'webhook' in recipients.",
                code="invalid_channels",
                field=f"{field}[{index}]",
            )
        _choice(f"{field}[{index}]", channel, PERSON_CHANNELS)
    if len(set(raw)) != len(raw):
        raise Invalid(f"{field} names a channel twice.", code="invalid_channels", field=field)
    for index, recipient in enumerate(recipients):
        kind = address_kind(recipient) if recipient not in RECIPIENTS else None
        if (kind == "phone" and not ({"whatsapp", "sms"} & set(raw))) or (kind == "email" and "email" not in raw):
            raise Invalid(
                f"recipients[{index}] is a {kind} address, and no channel of the rule reaches one.",
                code="invalid_channels",
                field=field,
            )
    return tuple(raw)


def parse_webhook(raw: Any, current_secret: str | None, allow_private: bool) -> tuple[str | None, str | None]:
    """The tenant's webhook (URL and signing secret), or none. A new document that keeps the URL
    may leave the secret out: the current one stays (answers never show it)."""
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping):
        raise Invalid('webhook is {"url", "secret"} or null.', code="invalid_webhook", field="webhook")
    unknown = sorted(set(raw) - {"url", "secret"})
    if unknown:
        raise Invalid(f"webhook has no field '{unknown[0]}'; fields: url, secret.", code="invalid_webhook", field=f"webhook.{unknown[0]}")
    url = check_webhook_url("webhook.url", raw.get("url"), allow_private)
    secret = raw.get("secret") if raw.get("secret") is not None else current_secret
    if not isinstance(secret, str) or not SECRET.match(secret):
        raise Invalid(
            "webhook.secret is 16 to 256 printable characters without spaces: the key the signature is made with.",
            code="invalid_webhook",
            field="webhook.secret",
        )
    return url, secret


def _text(field: str, value: Any, limit: int = 100) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise Invalid(f"{field} is 1 to {limit} characters.", code="invalid_rules", field=field)
    return value.strip()


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise Invalid(f"{field} is one of: {', '.join(allowed)}.", code="invalid_rules", field=field)
    return value


def _labels(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if len(values) > MAX_LIST or not all(isinstance(v, str) and LABEL.match(v) for v in values):
        raise Invalid(f"{field} lists at most {MAX_LIST} names of 1-64 letters, digits or . : @ / - _.", code="invalid_rules", field=field)
    return tuple(dict.fromkeys(values))


def rule_from_document(document: Mapping[str, Any]) -> NotificationRule:
    """A rule as it was stored (checked when it was saved)."""
    return NotificationRule(
        name=document["name"],
        event=document["event"],
        recipients=tuple(document["recipients"]),
        channels=tuple(document["channels"]),
        statuses=tuple(document.get("statuses", ())),
        workflows=tuple(document.get("workflows", ())),
        by=document.get("by"),
        send=document.get("send", "first"),
        message=document.get("message", "status_update"),
        templates=document.get("templates", {}),
    )


DEFAULT_DOCUMENT: list[dict[str, Any]] = [
    {
        "name": "municipal: status to the reporter",
        "event": "StatusChanged",
        "workflows": ["municipal"],
        "statuses": ["in_progress", "escalated", "resolved", "closed"],
        "recipients": ["reporter"],
        "channels": ["whatsapp", "sms", "email"],
    },
    {
        "name": "field service: created, to the subscriber",
        "event": "Opened",
        "workflows": ["field_service"],
        "recipients": ["reporter"],
        "channels": ["sms", "email"],
        "send": "all",
    },
    {
        "name": "field service: assigned, to the technician",
        "event": "Assigned",
        "workflows": ["field_service"],
        "recipients": ["assignee"],
        "channels": ["sms", "email"],
        "send": "all",
    },
    {
        "name": "field service: transferred, to the technician",
        "event": "Transferred",
        "workflows": ["field_service"],
        "recipients": ["assignee"],
        "channels": ["sms", "email"],
        "send": "all",
    },
    {
        "name": "field service: completed, to the subscriber",
        "event": "StatusChanged",
        "workflows": ["field_service"],
        "statuses": ["completed"],
        "recipients": ["reporter"],
        "channels": ["sms", "email"],
        "send": "all",
        "message": "job_completed",
    },
    {
        "name": "field service: SLA breached, to the managers",
        "event": "SLABreached",
        "workflows": ["field_service"],
        "recipients": ["team_managers"],
        "channels": ["sms", "email"],
        "send": "all",
    },
    {
        "name": "helpdesk: staff reply, to the customer",
        "event": "ReplyAdded",
        "workflows": ["helpdesk"],
        "by": "staff",
        "recipients": ["reporter"],
        "channels": ["email"],
    },
    {
        "name": "helpdesk: resolved, to the customer",
        "event": "StatusChanged",
        "workflows": ["helpdesk"],
        "statuses": ["resolved"],
        "recipients": ["reporter"],
        "channels": ["email"],
    },
    {
        "name": "escalated, to the managers",
        "event": "Escalated",
        "recipients": ["team_managers"],
        "channels": ["sms", "email"],
    },
]
DEFAULT_RULES = parse_rules(DEFAULT_DOCUMENT, webhook=False)


class NotificationRules(Aggregate):
    """A tenant's notification rules and webhook; each replacement is a new version."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return notification_rules_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.version_number = 0
        self.documents: list[dict[str, Any]] = []
        self.rules: list[NotificationRule] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.set_by: str | None = None

    @property
    def in_force(self) -> list[NotificationRule]:
        """The tenant's rules; the defaults until it sets its own (an empty list is its own too)."""
        return self.rules if self.version_number else DEFAULT_RULES

    def replace(self, actor: Actor, rules: Any, webhook: Any, allow_private_webhooks: bool = False) -> None:
        require(actor, Action.MANAGE_NOTIFICATIONS)
        url, secret = parse_webhook(webhook, self.webhook_secret, allow_private_webhooks)
        checked = parse_rules(rules, webhook=url is not None)
        self._replaced(
            tenant=self.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            rules_version=self.version_number + 1,
            rules=[rule.to_document() for rule in checked],
            webhook_url=url,
            webhook_secret=secret,
        )

    @event("NotificationRulesReplaced")
    def _replaced(
        self, *, tenant: str, actor_id: str, actor_role: str, rules_version: int, rules: list[dict[str, Any]],
        webhook_url: str | None, webhook_secret: str | None,
    ) -> None:  # fmt: skip
        self.version_number = rules_version
        self.documents = rules
        self.rules = [rule_from_document(document) for document in rules]
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret
        self.set_by = actor_id


def notification_rules_id(tenant: str) -> UUID:
    return tenant_aggregate_id("notification-rules", tenant)
