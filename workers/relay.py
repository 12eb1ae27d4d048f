"""The relay: publishes every ticket event to the JetStream stream DOCKET_EVENTS, in order.

Each message carries the event's global notification id as `Nats-Msg-Id`. The relay starts
after the higher of its tracked position and the id of the stream's last message, so a relay
killed between publishing and tracking neither skips nor repeats a message. A last message id
beyond the event store's last notification was not the relay's (a forgery, or a database
restored behind its stream): it is logged as an anomaly and ignored, lest real events be skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

import msgspec
import nats
import psycopg
from eventsourcing.persistence import Tracking
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from psycopg.sql import SQL, Identifier

from commands.app import TICKET_TOPICS, Docket, event_name
from projections.operations import RELAY, events_after, tracking_recorder

log = logging.getLogger(__name__)

STREAM = "DOCKET_EVENTS"
# Sensitive tickets' events and staff-only internal notes go to their own subjects, so that a
# consumer's NATS permissions (see deploy/nats) keep them from anyone not cleared to read them.
STREAM_SUBJECTS = ["docket.*.tickets.>", "docket.*.internal.>", "docket.*.sensitive.>"]
DUPLICATE_WINDOW = 24 * 3600.0
BATCH = 500
IDLE_WAIT = 1.0
ACK_TIMEOUT = 10.0  # the longest a batch waits for JetStream's acknowledgements
STALL_RETRY = 1.0
ENVELOPE = ("originator_id", "originator_version", "originator_topic", "timestamp")

_encoder = msgspec.json.Encoder()


def subject_for(domain_event: Any) -> str:
    if domain_event.is_sensitive:
        kind = "sensitive"
    elif getattr(domain_event, "internal", False):
        kind = "internal"
    else:
        kind = "tickets"
    return f"docket.{domain_event.tenant}.{kind}.{event_name(domain_event)}"


def payload_for(domain_event: Any, notification_id: int) -> bytes:
    fields = {k: v for k, v in vars(domain_event).items() if k not in ENVELOPE}
    return _encoder.encode(
        {
            "event": event_name(domain_event),
            "ticket_id": domain_event.originator_id,
            "notification_id": notification_id,
            "version": domain_event.originator_version,
            "at": domain_event.timestamp,
            **fields,
        }
    )


async def ensure_stream(js: JetStreamContext) -> None:
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        log.info("creating JetStream stream %s for %s", STREAM, STREAM_SUBJECTS)
        await js.add_stream(name=STREAM, subjects=STREAM_SUBJECTS, duplicate_window=DUPLICATE_WINDOW)
        return
    if sorted(info.config.subjects or []) != sorted(STREAM_SUBJECTS):
        log.info("updating JetStream stream %s to subjects %s", STREAM, STREAM_SUBJECTS)
        await js.update_stream(dataclasses.replace(info.config, subjects=STREAM_SUBJECTS))


class Relay:
    name = RELAY

    def __init__(self, app: Docket, database_url: str, js: JetStreamContext) -> None:
        self.app = app
        self.database_url = database_url
        self.js = js
        self.tracking = tracking_recorder(app.recorder.datastore, self.name)
        self.tracking.create_table()

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_stream(self.js)
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as listener:
            await listener.execute(SQL("LISTEN {}").format(Identifier(self.app.recorder.channel_name)))
            position = await self.start_position()
            log.info("relay publishing to %s after notification %s", STREAM, position)
            stalled_since: float | None = None
            while not stop.is_set():
                batch = await asyncio.to_thread(events_after, self.app, position, TICKET_TOPICS, BATCH)
                if not batch:
                    await _wait_for_notify(listener)
                    continue
                try:
                    await asyncio.wait_for(self.publish(batch), ACK_TIMEOUT)
                except (TimeoutError, NatsError) as error:
                    # Acks lost to a dropped connection never come: publish the batch again (its
                    # message ids make repeats harmless) rather than wait for them for ever.
                    if stalled_since is None:
                        stalled_since = time.monotonic()
                    why = str(error) or f"no acknowledgement within {ACK_TIMEOUT:g}s"
                    log.warning("relay stalled after notification %s (%s); publishing again in %gs", position, why, STALL_RETRY)
                    await _pause(stop, STALL_RETRY)
                    continue
                if stalled_since is not None:
                    log.info("relay resumed after %.1fs stalled, from notification %s", time.monotonic() - stalled_since, position)
                    stalled_since = None
                position = batch[-1][1].notification_id
                await asyncio.to_thread(self.tracking.insert_tracking, Tracking(self.app.name, position))
                log.debug("relayed %d events up to notification %s", len(batch), position)
        log.info("relay stopped at notification %s", position)

    async def start_position(self) -> int:
        """After the tracked notification, or after the stream's last message if that is further
        and is the very event the relay would have published under its id."""
        tracked = await asyncio.to_thread(self.tracking.max_tracking_id, self.app.name) or 0
        last = await last_message(self.js)
        published = message_id(last)
        if published <= tracked:
            return tracked
        head = await asyncio.to_thread(self.app.recorder.max_notification_id) or 0
        if published > head:
            why = f"beyond the event store's last notification {head}"
        elif not await asyncio.to_thread(self.relayed, last, published):
            why = f"not the event store's notification {published}"
        else:
            return published
        log.warning(
            "anomaly: the last message of %s has message id %s, %s; ignoring it and starting after the tracked notification %s",
            STREAM,
            published,
            why,
            tracked,
        )
        return tracked

    def relayed(self, message: RawStreamMsg, notification_id: int) -> bool:
        """Whether the message is the event of that notification as the relay publishes it."""
        found = events_after(self.app, notification_id - 1, TICKET_TOPICS, 1)
        if not found or found[0][1].notification_id != notification_id:
            return False
        event = found[0][0]
        return (message.subject, message.data) == (subject_for(event), payload_for(event, notification_id))

    async def publish(self, batch: list[tuple[Any, Tracking]]) -> None:
        """Publishes a batch with its acks outstanding together, then checks every ack."""
        messages = [
            (subject_for(event), payload_for(event, tracking.notification_id), str(tracking.notification_id)) for event, tracking in batch
        ]
        acks = [await self.js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id}) for subject, payload, msg_id in messages]
        for (subject, payload, msg_id), ack in zip(messages, await asyncio.gather(*acks), strict=True):
            if ack.duplicate:
                await self.publish_despite_duplicate(subject, payload, msg_id, ack.seq)

    async def publish_despite_duplicate(self, subject: str, payload: bytes, msg_id: str, held_seq: int) -> None:
        """JetStream took a message for one it holds already. After a relay died before tracking,
        that is this very message. Otherwise someone else published under the event's id, and the
        event goes out under an id of its own, lest it be lost."""
        held = await self.js.get_msg(STREAM, seq=held_seq)
        if (held.subject, held.data) == (subject, payload):
            return
        own_id = f"{msg_id}-{held_seq}"  # the same on a retry, so still published once
        log.warning(
            "anomaly: %s holds message id %s (sequence %s) that is not notification %s; publishing the notification as message id %s",
            STREAM,
            msg_id,
            held_seq,
            msg_id,
            own_id,
        )
        await self.js.publish(subject, payload, headers={"Nats-Msg-Id": own_id})


async def last_published_id(js: JetStreamContext) -> int:
    return message_id(await last_message(js))


async def last_message(js: JetStreamContext) -> RawStreamMsg | None:
    info = await js.stream_info(STREAM)
    if not info.state.last_seq:
        return None
    try:
        return await js.get_msg(STREAM, seq=info.state.last_seq)
    except NotFoundError:
        return None


def message_id(message: RawStreamMsg | None) -> int:
    """The notification id a message carries as its message id (or before a dash in it, see
    Relay.publish_despite_duplicate); 0 for no message or an id that names no notification."""
    if message is None:
        return 0
    msg_id = (message.headers or {}).get("Nats-Msg-Id", "0")
    try:
        return int(msg_id.partition("-")[0])
    except ValueError:
        log.warning("anomaly: the last message of %s has message id %r, which names no notification; ignoring it", STREAM, msg_id)
        return 0


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_for_notify(listener: psycopg.AsyncConnection) -> None:
    """Returns on the event store's NOTIFY, or after IDLE_WAIT at the latest."""
    async for _ in listener.notifies(timeout=IDLE_WAIT, stop_after=1):
        return


async def connect_nats(url: str, name: str, inbox_prefix: str = "_INBOX") -> nats.NATS:
    """A connection that reconnects for ever. A role connects with its user's own inbox prefix,
    _INBOX_<user>, the only one its NATS permissions let it read (see deploy/README.md); the
    relay keeps _INBOX."""

    async def on_error(error: Exception) -> None:
        log.warning("NATS connection %s: %s", name, error)

    return await nats.connect(url, name=name, inbox_prefix=inbox_prefix, max_reconnect_attempts=-1, error_cb=on_error)
