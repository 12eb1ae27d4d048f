"""The relay: publishes every ticket event to the JetStream stream DOCKET_EVENTS, in order.

Each message carries the event's global notification id as `Nats-Msg-Id`. The relay starts
after the higher of its tracked position and the id of the stream's last message, so a relay
killed between publishing and tracking neither skips nor repeats a message. A last message id
beyond the event store's last notification was not the relay's (a forgery, or a database
restored behind its stream): it is logged as an anomaly and ignored, lest real events be skipped.

No wait on NATS is unbounded. A batch whose acknowledgements do not come within ACK_TIMEOUT is
published again (the message ids make repeats harmless) until they do; the relay logs when it
stalls and when it resumes, once each, and records the stall (commands/relay_stalls.py) where
/health/ready and /metrics read it from any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import nats
import psycopg
from eventsourcing.persistence import Tracking
from nats.errors import Error as NatsError
from nats.errors import NoServersError, StaleConnectionError
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg, StreamConfig
from nats.js.errors import APIError, NotFoundError
from psycopg.sql import SQL, Identifier

from commands.app import TICKET_TOPICS, Docket
from commands.relay_stalls import clear_relay_stall, create_relay_stalls_table, record_relay_stall
from projections.operations import LINGER, RELAY, events_after, tracking_recorder
from workers.messages import messages_for
from workers.stalls import StallLog

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
CONNECT_TIMEOUT = 10.0  # the longest a role waits for its first connection to NATS
DRAIN_TIMEOUT = 5  # the longest a closing connection waits for its subscriptions and publishes to finish


async def ensure_stream(js: JetStreamContext, replicas: int | None = None) -> None:
    """Creates the stream, or brings its subjects and (when given) its replicas up to date. None
    keeps an existing stream's replicas, so a helper that only reads never scales it down."""
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        log.info("creating JetStream stream %s for %s with %s replicas", STREAM, STREAM_SUBJECTS, replicas or 1)
        await js.add_stream(name=STREAM, subjects=STREAM_SUBJECTS, duplicate_window=DUPLICATE_WINDOW, num_replicas=replicas or 1)
        return
    config = info.config
    if sorted(config.subjects or []) != sorted(STREAM_SUBJECTS):
        log.info("updating JetStream stream %s to subjects %s", STREAM, STREAM_SUBJECTS)
        config = (await js.update_stream(dataclasses.replace(config, subjects=STREAM_SUBJECTS))).config
    await ensure_replicas(js, config, replicas)


async def ensure_replicas(js: JetStreamContext, config: StreamConfig, replicas: int | None) -> None:
    """Scales a stream to the replicas asked for. Should the cluster refuse (too few nodes up, say),
    the stream keeps serving as it is: publishing matters more than its copies."""
    if replicas is None or (config.num_replicas or 1) == replicas:
        return
    log.info("updating JetStream stream %s from %s to %s replicas", config.name, config.num_replicas or 1, replicas)
    try:
        await js.update_stream(dataclasses.replace(config, num_replicas=replicas))
    except APIError as error:
        log.warning("JetStream refused %s replicas for stream %s (%s); it keeps %s", replicas, config.name, error, config.num_replicas or 1)


class Relay:
    name = RELAY

    def __init__(self, app: Docket, database_url: str, js: JetStreamContext, replicas: int | None = None) -> None:
        self.app = app
        self.database_url = database_url
        self.js = js
        self.replicas = replicas  # of the stream (DOCKET_STREAM_REPLICAS); None keeps what it has
        self.datastore = app.recorder.datastore
        self.tracking = tracking_recorder(self.datastore, self.name)
        self.tracking.create_table()
        create_relay_stalls_table(self.datastore)
        self.stall = StallLog(log)

    async def run(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as listener:
            await listener.execute(SQL("LISTEN {}").format(Identifier(self.app.recorder.channel_name)))
            position = await self.start(stop)
            while position is not None and not stop.is_set():
                began = time.monotonic()
                batch = await asyncio.to_thread(events_after, self.app, position, TICKET_TOPICS, BATCH)
                if not batch:
                    await _wait_for_notify(listener)
                    continue
                try:
                    await asyncio.wait_for(self.publish(batch), ACK_TIMEOUT)
                except (TimeoutError, NatsError) as error:
                    # Acks lost to a dropped connection or a stream leader that died never come:
                    # publish the batch again rather than wait for them for ever.
                    await self.stalled(position, error)
                    await _pause(stop, STALL_RETRY)
                    continue
                await self.resumed(position)
                position = batch[-1][1].notification_id
                await asyncio.to_thread(self.tracking.insert_tracking, Tracking(self.app.name, position))
                log.debug("relayed %d events up to notification %s", len(batch), position)
                if len(batch) < BATCH:
                    await _pause(stop, began + LINGER - time.monotonic())
        if position is None:
            log.info("relay stopped before JetStream answered")
        else:
            log.info("relay stopped at notification %s", position)

    async def start(self, stop: asyncio.Event) -> int | None:
        """Ensures the stream and finds where to start, however long NATS takes to answer; None if
        stopped first. A stall a relay before this one left recorded ends here."""
        while not stop.is_set():
            try:
                await ensure_stream(self.js, self.replicas)
                position = await self.start_position()
            except (TimeoutError, NatsError) as error:
                await self.stalled(await asyncio.to_thread(self.tracking.max_tracking_id, self.app.name) or 0, error)
                await _pause(stop, STALL_RETRY)
                continue
            self.stall.succeeded("relay reached JetStream")
            await asyncio.to_thread(clear_relay_stall, self.datastore, self.name)
            log.info("relay publishing to %s after notification %s", STREAM, position)
            return position
        return None

    async def stalled(self, position: int, error: BaseException) -> None:
        why = f"no acknowledgement within {ACK_TIMEOUT:g}s" if isinstance(error, TimeoutError) and not str(error) else type(error).__name__
        if self.stall.failed("relay stalled after notification %s (%s); trying again every %gs", position, str(error) or why, STALL_RETRY):
            await asyncio.to_thread(record_relay_stall, self.datastore, self.name, position, why)

    async def resumed(self, position: int) -> None:
        if self.stall.succeeded("relay resumed from notification %s", position):
            await asyncio.to_thread(clear_relay_stall, self.datastore, self.name)

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
        subject, payload, _ = messages_for(event, notification_id)[-1]
        return (message.subject, message.data) == (subject, payload)

    async def publish(self, batch: list[tuple[Any, Tracking]]) -> None:
        """Publishes a batch with its acks outstanding together, then checks every ack."""
        messages = [message for event, tracking in batch for message in messages_for(event, tracking.notification_id)]
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
    """A connection that reconnects for ever, once made: NotConnected if none is made within
    CONNECT_TIMEOUT. A role connects with its user's own inbox prefix, _INBOX_<user>, the only one
    its NATS permissions let it read (see deploy/README.md); the relay keeps _INBOX.

    The URL may list a cluster's servers, comma-separated. Their credentials are given for every
    server, those the cluster advertises included, whose addresses carry none. A lost connection
    is logged once, with its first error, and once more when it is back."""
    servers, credentials = servers_and_credentials(url)
    client = nats.NATS()
    outage = StallLog(log)
    made = asyncio.Event()

    async def on_error(error: Exception) -> None:
        if not made.is_set():  # the first connection: the caller hears of it, as NotConnected
            log.debug("NATS connection %s: %s", name, error)
        elif client.is_connected and not isinstance(error, (OSError, StaleConnectionError)):
            log.warning("NATS connection %s: %s", name, error)  # a refusal (a permission, say), not an outage
        else:
            outage.failed("NATS connection %s: %s", name, error)

    async def on_disconnected() -> None:
        if not client.is_closed:  # closed here, not lost
            outage.failed("NATS connection %s lost; reconnecting", name)

    async def on_reconnected() -> None:
        outage.succeeded("NATS connection %s reconnected", name)

    try:
        await asyncio.wait_for(
            client.connect(
                servers,
                name=name,
                inbox_prefix=inbox_prefix,
                max_reconnect_attempts=-1,
                drain_timeout=DRAIN_TIMEOUT,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                **credentials,
            ),
            CONNECT_TIMEOUT,
        )
    except TimeoutError:
        last_error = client.last_error
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 1)
        raise NotConnected(
            f"no NATS connection within {CONNECT_TIMEOUT:g}s" + (f" (last error: {last_error})" if last_error else "")
        ) from None
    made.set()
    return client


class NotConnected(NoServersError):
    """No server of the URL took the connection in time; says the last error (a refused login, say)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why

    def __str__(self) -> str:
        return self.why


def servers_and_credentials(url: str) -> tuple[list[str], dict[str, str]]:
    """The servers of a comma-separated URL list without credentials, and the credentials (of the
    first that has any) as nats.connect takes them: user and password, or a token."""
    servers, credentials = [], {}
    for part in filter(None, (p.strip() for p in url.split(","))):
        parts = urlsplit(part)
        if parts.username is not None and not credentials:
            credentials = {"user": parts.username, "password": parts.password} if parts.password is not None else {"token": parts.username}
        servers.append(parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl())
    return servers, credentials


async def close_nats(client: nats.NATS) -> None:
    """Drains the connection (within DRAIN_TIMEOUT), or closes it where it cannot be drained."""
    try:
        await client.drain()
    except (TimeoutError, NatsError):
        await client.close()
