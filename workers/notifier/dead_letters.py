"""DOCKET_NOTIFY_DLQ: every delivery that died, on JetStream, for operators and their alerts.

A dead row is marked published only once JetStream acknowledged it, and a notifier publishes the
dead rows not yet marked: a notifier that dies in between leaves the message to the next, and the
message id (the delivery's id and attempts) keeps the repeat out of the stream. Nothing personal
travels: the recipient masked, the error as the record keeps it (addresses masked).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from uuid import UUID

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from workers.notifier.store import Dead

log = logging.getLogger(__name__)

STREAM = "DOCKET_NOTIFY_DLQ"
SUBJECTS = ["docket.*.notify.>"]
DUPLICATE_WINDOW = 24 * 3600.0
MAX_AGE = 30 * 24 * 3600.0  # a month of dead deliveries kept; the record in PostgreSQL keeps them all


class DeadDelivery(msgspec.Struct, frozen=True):
    """A delivery that will not be tried again unless someone says so (`docket notifications retry`)."""

    delivery_id: UUID
    tenant: str
    ticket_id: UUID
    notification_id: int  # the event's
    event: str
    rule: str
    channel: str
    recipient: str  # masked
    recipient_kind: str
    attempts: int
    error: str
    at: datetime  # when it died


_encode = msgspec.json.Encoder().encode


def subject_for(tenant: str, channel: str, sensitive: bool) -> str:
    """docket.<tenant>.notify.dead.<channel>, or .dead_sensitive. for a sensitive ticket's: apart,
    so that NATS permissions can keep them to those cleared for sensitive reports."""
    return f"docket.{tenant}.notify.{'dead_sensitive' if sensitive else 'dead'}.{channel}"


async def ensure_dead_letter_stream(js: JetStreamContext, replicas: int | None = None) -> None:
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        log.info("creating JetStream stream %s for %s", STREAM, SUBJECTS)
        await js.add_stream(name=STREAM, subjects=SUBJECTS, duplicate_window=DUPLICATE_WINDOW, max_age=MAX_AGE, num_replicas=replicas or 1)
        return
    if sorted(info.config.subjects or []) != sorted(SUBJECTS):
        await js.update_stream(dataclasses.replace(info.config, subjects=SUBJECTS))


async def publish_dead(js: JetStreamContext, dead: Dead, sensitive: bool) -> None:
    letter = DeadDelivery(
        delivery_id=dead.id,
        tenant=dead.tenant,
        ticket_id=dead.ticket_id,
        notification_id=dead.notification_id,
        event=dead.event,
        rule=dead.rule,
        channel=dead.channel,
        recipient=dead.recipient,
        recipient_kind=dead.recipient_kind,
        attempts=dead.attempts,
        error=dead.last_error or "",
        at=dead.updated_at,
    )
    await js.publish(
        subject_for(dead.tenant, dead.channel, sensitive),
        _encode(letter),
        stream=STREAM,
        headers={"Nats-Msg-Id": f"{dead.id}:{dead.attempts}"},
    )
