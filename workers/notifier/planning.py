"""From one relayed event to the deliveries it makes: which rules it triggers, whom they name,
by which channel each is reached, and the words, or why nobody is told.

Contact details never come from NATS: the ticket is read from the event store (and so as it is
now: a redacted phone number is gone), team members' from their team. The ordinary notifier
plans nothing for a ticket that is sensitive (now, even if it was not when the event happened),
and the sensitive one sends the neutral text alone, to nobody but people: "There is an update on
your report TKT-000123". Someone else may read the victim's phone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError
from psycopg.sql import SQL, Identifier

from commands.app import Docket
from commands.deliveries import delivery_id
from domain.contacts import mask, normalise_email, normalise_phone
from domain.notification_prefs import opt_out_id, suppression_id
from domain.notification_rules import DEFAULT_RULES, EventFacts, NotificationRule, NotificationRules, matching
from domain.notification_templates import NEUTRAL_SUBJECT, NEUTRAL_TEXT, header_safe, render, render_html, whatsapp_parameter
from domain.permissions import Action, Role, may
from domain.team import Team
from domain.ticket import Ticket
from workers.settings import NotifySettings

log = logging.getLogger(__name__)

REACHES = {"whatsapp": "phone", "sms": "phone", "email": "email"}


class NotifyEvent(msgspec.Struct):
    """What the notifier reads of a relayed event (workers/relay.py payload_for); the rest of it
    is ignored."""

    event: str
    ticket_id: UUID
    notification_id: int
    tenant: str
    at: datetime
    actor_id: str = ""
    actor_role: str = "system"
    is_sensitive: bool = False
    to_status: str | None = None
    from_status: str | None = None
    note: str | None = None
    note_public: bool = False
    body: str | None = None
    internal: bool = False
    assignee_id: str | None = None
    to_assignee: str | None = None
    team_id: str | None = None
    kind: str | None = None
    level: int | None = None
    workflow: str | None = None  # the ticket's, on the event that opened it


decode_event = msgspec.json.Decoder(NotifyEvent).decode


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone a rule names, with what reaches them."""

    kind: str  # reporter, assignee, team_manager, address, webhook
    user_id: str | None
    label: str  # how a record without an address names them
    phone: str | None = None
    email: str | None = None
    url: str | None = None
    why_none: str | None = None  # when nothing reaches them


@dataclass(slots=True)
class Planned:
    """One row of the delivery record, as it is first written."""

    id: UUID
    tenant: str
    ticket_id: UUID
    notification_id: int
    event: str
    rule: str
    recipient_kind: str
    recipient_id: str | None
    recipient_key: str
    recipient: str  # masked
    channel: str
    template: str
    sensitive: bool
    status: str  # pending or suppressed
    last_error: str | None = None
    message: dict[str, Any] | None = field(default=None)  # what to send; None when nothing will be


@dataclass
class Lookups:
    """What planning reads besides the event, kept for one batch of events: the same tenant's rules,
    team and suppressions are read once per batch, not once per event."""

    app: Docket
    rules: dict[str, NotificationRules | None] = field(default_factory=dict)
    teams: dict[str, Team | None] = field(default_factory=dict)
    suppressed: dict[tuple[str, str], bool] = field(default_factory=dict)
    opted_out: dict[UUID, bool] = field(default_factory=dict)
    absent: set[UUID] = field(default_factory=set)  # aggregates known not to be stored

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Which of these opt-outs and suppressions are stored at all, in one query: almost none
        are, and those that are not need no reading each. (Their ids are primary-key columns of the
        event store; their contents stay encrypted and are read through the repository.)"""
        wanted = list(set(aggregate_ids) - self.absent)
        if not wanted:
            return
        recorder = self.app.recorder
        query = SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s)").format(Identifier(recorder.events_table_name))
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(query, (wanted,))
            stored = {row["originator_id"] for row in curs.fetchall()}
        self.absent |= set(wanted) - stored

    def rules_of(self, tenant: str) -> NotificationRules | None:
        if tenant not in self.rules:
            try:
                self.rules[tenant] = self.app.config.get(NotificationRules.create_id(tenant))
            except AggregateNotFoundError:
                self.rules[tenant] = None
        return self.rules[tenant]

    def team(self, team_id: str | None, tenant: str) -> Team | None:
        if not team_id:
            return None
        if team_id not in self.teams:
            try:
                team = self.app.config.get(UUID(team_id))
            except (AggregateNotFoundError, ValueError):
                team = None
            self.teams[team_id] = team if isinstance(team, Team) and team.tenant == tenant else None
        return self.teams[team_id]

    def is_suppressed(self, tenant: str, address: str) -> bool:
        key = (tenant, address)
        if key not in self.suppressed:
            self.suppressed[key] = bool(getattr(self._stored(suppression_id(tenant, address)), "suppressed", False))
        return self.suppressed[key]

    def has_opted_out(self, ticket_id: UUID) -> bool:
        if ticket_id not in self.opted_out:
            self.opted_out[ticket_id] = bool(getattr(self._stored(opt_out_id(ticket_id)), "opted_out", False))
        return self.opted_out[ticket_id]

    def _stored(self, aggregate_id: UUID) -> Any:
        if aggregate_id in self.absent:
            return None
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


class Planner:
    def __init__(self, settings: NotifySettings, channels_on: set[str], sensitive: bool) -> None:
        self.settings = settings
        self.channels_on = channels_on
        self.sensitive = sensitive

    def likely_lookups(self, event: NotifyEvent, ticket: Ticket) -> list[UUID]:
        """The opt-out and suppressions that planning this event will most likely ask about: the
        reporter's. (Staff and fixed addresses are asked about one by one.)"""
        wanted = [opt_out_id(ticket.id)]
        reporter = self.reporter(ticket)
        wanted += [suppression_id(event.tenant, address) for address in (reporter.phone, reporter.email) if address]
        return wanted

    def may_plan(self, event: NotifyEvent, lookups: Lookups) -> bool:
        """Whether planning this event could make any delivery, from the event alone: if not, its
        ticket need not be read. (The same rules in force as `plan` reads; a ticket's workflow is
        known from the event only where it opened.)"""
        return event.is_sensitive == self.sensitive and bool(self.rules_taking_up(event, event.workflow, lookups.rules_of(event.tenant)))

    @staticmethod
    def rules_taking_up(event: NotifyEvent, workflow: str | None, rules: NotificationRules | None) -> list[NotificationRule]:
        """The tenant's rules in force (the defaults until it sets its own) that the event triggers."""
        in_force = rules.in_force if rules is not None else DEFAULT_RULES
        return matching(in_force, EventFacts(event.event, workflow, event.to_status, event.actor_role, event.internal))

    def plan(self, event: NotifyEvent, raw: bytes, ticket: Ticket, lookups: Lookups) -> list[Planned]:
        if ticket.is_sensitive != self.sensitive or event.is_sensitive != self.sensitive:
            # The ordinary notifier never tells of a sensitive ticket; the sensitive one of no other.
            return []
        rules = lookups.rules_of(event.tenant)
        planned: dict[UUID, Planned] = {}
        for rule in self.rules_taking_up(event, ticket.workflow.name, rules):
            for contact in self.contacts(rule, event, ticket, rules, lookups):
                for row in self.rows(rule, contact, event, ticket, raw, lookups):
                    planned.setdefault(row.id, row)  # two rules that reach the same address on one channel: once
        return list(planned.values())

    # Whom a rule names

    def contacts(
        self, rule: NotificationRule, event: NotifyEvent, ticket: Ticket, rules: NotificationRules | None, lookups: Lookups
    ) -> Iterator[Contact]:
        for recipient in rule.recipients:
            if recipient == "reporter":
                if not event.internal:  # never a staff-only note, whatever a rule says
                    yield self.reporter(ticket)
            elif recipient == "assignee":
                yield from self.assignee(event, ticket, lookups)
            elif recipient == "team_managers":
                yield from self.managers(event, ticket, lookups)
            elif recipient == "webhook":
                if rules is not None and rules.webhook_url:
                    yield Contact("webhook", None, "webhook", url=rules.webhook_url)
            elif recipient.startswith("+"):
                yield Contact("address", None, mask(recipient), phone=recipient)
            else:
                yield Contact("address", None, mask(recipient), email=recipient)

    def reporter(self, ticket: Ticket) -> Contact:
        phone = email = None
        if ticket.reporter_phone:
            try:
                phone = normalise_phone(ticket.reporter_phone, self.settings.phone_country_code)
            except ValueError:
                log.info("ticket %s: the reporter's phone number is not one a message can go to", ticket.id)
        if ticket.reporter_email:
            try:
                email = normalise_email(ticket.reporter_email)
            except ValueError:
                log.info("ticket %s: the reporter's email address is not one a message can go to", ticket.id)
        return Contact(
            "reporter", ticket.reporter_id, "reporter", phone, email, why_none="the reporter has no phone number or email address"
        )

    def assignee(self, event: NotifyEvent, ticket: Ticket, lookups: Lookups) -> Iterator[Contact]:
        """Whom the event gave the ticket to (Assigned, Transferred), else whom it is with."""
        user_id = {"Assigned": event.assignee_id, "Transferred": event.to_assignee}.get(event.event, ticket.assignee_id)
        if not user_id:
            return
        team_id = event.team_id if event.event == "Assigned" else ticket.team_id
        yield from self.members(lookups.team(team_id, ticket.tenant), ticket, "assignee", lambda m: m.user_id == user_id, user_id)

    def managers(self, event: NotifyEvent, ticket: Ticket, lookups: Lookups) -> Iterator[Contact]:
        team_id = event.team_id if event.event == "Assigned" else ticket.team_id
        yield from self.members(lookups.team(team_id, ticket.tenant), ticket, "team_manager", lambda m: m.role == "manager")

    def members(
        self, team: Team | None, ticket: Ticket, kind: str, chosen: Callable[[Any], bool], user_id: str | None = None
    ) -> Iterator[Contact]:
        """The team's members a rule names, who may read the ticket: nobody is told of a ticket they
        may not see."""
        found = [m for m in team.members.values() if chosen(m)] if team is not None else []
        if not found and user_id is not None:
            yield Contact(
                kind, user_id, kind, why_none=f"{user_id} is not a member of the ticket's team, whose members' contacts are known"
            )
        for member in found:
            if may(Role(member.role), Action.READ_SENSITIVE if ticket.is_sensitive else Action.READ_ORDINARY):
                why = f"{member.user_id} has no phone number or email address in team {team.name}"
                yield Contact(kind, member.user_id, kind, member.phone, member.email, why_none=why)

    # By which channel, in which words

    def rows(
        self, rule: NotificationRule, contact: Contact, event: NotifyEvent, ticket: Ticket, raw: bytes, lookups: Lookups
    ) -> Iterator[Planned]:
        base = {
            "tenant": event.tenant,
            "ticket_id": event.ticket_id,
            "notification_id": event.notification_id,
            "event": event.event,
            "rule": rule.name,
            "recipient_kind": contact.kind,
            "recipient_id": contact.user_id,
            "sensitive": self.sensitive,
        }
        if contact.kind == "webhook":
            yield self.webhook_row(base, contact, raw, lookups)
            return
        reachable = [c for c in rule.channels if getattr(contact, REACHES[c])]
        usable = [c for c in reachable if c in self.channels_on]
        if not usable:
            why = contact.why_none if not reachable else f"no channel that reaches them is configured ({', '.join(reachable)} off)"
            yield self.held(
                base, rule.channels[0], f"{contact.kind}:{contact.user_id or contact.label}", contact.label, why or "unreachable"
            )
            return
        opted_out = contact.kind == "reporter" and lookups.has_opted_out(event.ticket_id)
        for channel in usable:
            address = getattr(contact, REACHES[channel])
            if opted_out or lookups.is_suppressed(event.tenant, address):
                why = "the reporter opted out of this ticket's messages" if opted_out else "the address is on the tenant's suppression list"
                yield self.held(base, channel, address, mask(address), why)
                if opted_out:
                    return
                continue
            message, template = self.message(rule, channel, address, event, ticket, lookups)
            key = recipient_key(event.tenant, channel, address)
            yield Planned(
                id=delivery_id(event.notification_id, key, channel),
                recipient_key=key,
                recipient=mask(address),
                channel=channel,
                template=template,
                status="pending",
                message=message,
                **base,
            )
            if rule.send == "first":
                return

    def webhook_row(self, base: dict[str, Any], contact: Contact, raw: bytes, lookups: Lookups) -> Planned:
        url = contact.url or ""
        if self.sensitive:
            return self.held(base, "webhook", url, mask(url), "a sensitive ticket's events never go to a webhook")
        if "webhook" not in self.channels_on:
            return self.held(base, "webhook", url, mask(url), "webhooks are off in this notifier")
        rules = lookups.rules_of(base["tenant"])
        key = recipient_key(base["tenant"], "webhook", url)
        message = {"url": url, "secret": rules.webhook_secret if rules else "", "body": raw.decode()}
        return Planned(
            id=delivery_id(base["notification_id"], key, "webhook"),
            recipient_key=key,
            recipient=mask(url),
            channel="webhook",
            template="event",
            status="pending",
            message=message,
            **base,
        )

    def held(self, base: dict[str, Any], channel: str, who: str, shown: str, why: str) -> Planned:
        """A delivery kept back, and why: recorded, so that whoever asks who was told sees it."""
        key = recipient_key(base["tenant"], channel, who)
        return Planned(
            id=delivery_id(base["notification_id"], key, channel),
            recipient_key=key,
            recipient=shown,
            channel=channel,
            template="-",
            status="suppressed",
            last_error=why,
            **base,
        )

    def message(
        self, rule: NotificationRule, channel: str, address: str, event: NotifyEvent, ticket: Ticket, lookups: Lookups
    ) -> tuple[dict[str, Any], str]:
        if self.sensitive:
            return self.neutral(channel, address, ticket.tracking_number)
        values = self.values(event, ticket, lookups)
        template = rule.templates[channel]
        if channel == "whatsapp":
            parameters = [whatsapp_parameter(values.get(name, "")) for name in template["parameters"]]
            return {"to": address, "name": template["name"], "language": template["language"], "parameters": parameters}, template["name"]
        if channel == "sms":
            return {"to": address, "body": render(template["body"], values)[:1_600]}, rule.message
        email = {"to": address, "subject": header_safe(render(template["subject"], values)), "text": render(template["text"], values)}
        if template.get("html"):
            email["html"] = render_html(template["html"], values)
        return email, rule.message

    def neutral(self, channel: str, address: str, tracking_number: str) -> tuple[dict[str, Any], str]:
        text = render(NEUTRAL_TEXT, {"tracking_number": tracking_number})
        if channel == "whatsapp":
            name = self.settings.whatsapp_neutral_template
            return {"to": address, "name": name, "language": "en", "parameters": [tracking_number]}, name
        if channel == "sms":
            return {"to": address, "body": text}, "neutral"
        return {"to": address, "subject": NEUTRAL_SUBJECT, "text": text}, "neutral"

    def values(self, event: NotifyEvent, ticket: Ticket, lookups: Lookups) -> dict[str, str]:
        """What placeholders are filled with; never the reporter's own contact details."""
        team = lookups.team(ticket.team_id, ticket.tenant)
        assignee = team.members.get(ticket.assignee_id or "") if team is not None else None
        link = self.settings.link.replace("{tracking_number}", ticket.tracking_number).replace("{ticket_id}", str(ticket.id))
        return {
            "tracking_number": ticket.tracking_number,
            "title": ticket.title,
            "status": human(event.to_status or ticket.status),
            "previous_status": human(event.from_status or ""),
            "category": ticket.category,
            "priority": ticket.priority,
            "link": link,
            "reply": (event.body or "") if event.event == "ReplyAdded" and not event.internal else "",
            "note": (event.note or "") if event.note_public else "",
            "team": team.name if team is not None else "",
            "assignee": assignee.display_name if assignee is not None else "",
            "escalation_level": str(event.level if event.level is not None else ticket.escalation_level),
            "deadline": event.kind or "",
            "event": event.event,
        }


def human(status: str) -> str:
    return status.replace("_", " ")


def recipient_key(tenant: str, channel: str, who: str) -> str:
    """Who a delivery goes to, for its uniqueness, without keeping the address in the clear."""
    return hashlib.sha256(f"{tenant}\x00{channel}\x00{who}".encode()).hexdigest()[:40]
