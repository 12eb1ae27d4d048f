"""What the relay publishes of each event, and on which subject: no more than its readers need.

JetStream keeps messages on disk and hands them to every consumer the subject's permissions let in,
so a message carries less than the event:
- on the ordinary subjects (`docket.<tenant>.tickets.*`, `.internal.*`), no reporter contact
  details, address or exact location (a consumer that needs them asks the API with a token that
  may read them);
- on `docket.<tenant>.sensitive.*`, identifiers, event names, statuses and times only: someone
  else may read the phone the victim reported from.
A ticket made sensitive is also withdrawn from the ordinary subjects: `Withdrawn` tells their
consumers to drop what they hold about it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from commands.app import event_name

ENVELOPE = ("originator_id", "originator_version", "originator_topic", "timestamp")
PERSONAL = frozenset({"reporter_phone", "reporter_email", "address", "location"})
# What a sensitive ticket's messages keep of an event: who and what by identifier, statuses, times.
SENSITIVE_KEPT = frozenset(
    {
        "tenant", "actor_id", "actor_role", "is_sensitive", "tracking_number", "workflow", "workflow_version",
        "status", "from_status", "to_status", "from_category", "to_category", "priority",
        "team_id", "from_team_id", "assignee_id", "from_assignee_id", "from_assignee", "to_assignee",
        "reply_id", "internal", "attachment_id", "kind", "level", "on_time", "at", "due",
        "policy_id", "policy_version", "response_due", "resolution_due", "response_warning_at", "resolution_warning_at",
        "team_released", "assignee_released",
    }
)  # fmt: skip
WITHDRAWN = "Withdrawn"

_encoder = msgspec.json.Encoder()


def messages_for(domain_event: Any, notification_id: int) -> list[tuple[str, bytes, str]]:
    """(subject, payload, message id) of each message the event makes, the event's own last: the
    relay finds where it stopped from the stream's last message, which must be that one."""
    own = (subject_for(domain_event), payload_for(domain_event, notification_id), str(notification_id))
    if event_name(domain_event) == "MarkedSensitive":
        return [withdrawal(domain_event, notification_id), own]
    return [own]


def subject_for(domain_event: Any) -> str:
    if domain_event.is_sensitive:
        kind = "sensitive"
    elif getattr(domain_event, "internal", False):
        kind = "internal"
    else:
        kind = "tickets"
    return f"docket.{domain_event.tenant}.{kind}.{event_name(domain_event)}"


def payload_for(domain_event: Any, notification_id: int) -> bytes:
    fields = disclosed(domain_event)
    return _encoder.encode({**envelope(domain_event, notification_id), **fields})


def disclosed(domain_event: Any) -> dict[str, Any]:
    """The event's own fields that its subject's readers may hold."""
    fields = {k: v for k, v in vars(domain_event).items() if k not in ENVELOPE}
    if domain_event.is_sensitive:
        return {k: v for k, v in fields.items() if k in SENSITIVE_KEPT}
    if isinstance(fields.get("changes"), dict):  # an edit's old and new values
        fields["changes"] = {k: v for k, v in fields["changes"].items() if k not in PERSONAL}
    return {k: v for k, v in fields.items() if k not in PERSONAL}


def withdrawal(domain_event: Any, notification_id: int) -> tuple[str, bytes, str]:
    """On the ordinary subjects: drop what you hold about this ticket, it is sensitive now."""
    payload = _encoder.encode({**envelope(domain_event, notification_id), "event": WITHDRAWN, "tenant": domain_event.tenant})
    return f"docket.{domain_event.tenant}.tickets.{WITHDRAWN}", payload, f"{notification_id}-withdrawn"


def envelope(domain_event: Any, notification_id: int) -> dict[str, Any]:
    return {
        "event": event_name(domain_event),
        "ticket_id": domain_event.originator_id,
        "notification_id": notification_id,
        "version": domain_event.originator_version,
        "at": domain_event.timestamp,
    }
