"""Reads the relayed events through a durable JetStream pull consumer and records the deliveries
each one makes, before acknowledging it.

Many notifiers share one durable consumer (JetStream hands each message to one of them), and a
message is acknowledged only after its deliveries are recorded: one whose notifier died first
comes again (after the ack wait) to this notifier or another, which records nothing new (see
commands/deliveries.py). What cannot be read (a malformed message, a ticket this database does
not hold, an event older than DOCKET_NOTIFY_MAX_AGE_SECONDS) is logged and acknowledged: a poison
message never stops the others. What fails for a while (the database) is asked for again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from commands.app import Docket
from domain.ticket import Ticket
from workers.notifier.planning import Lookups, NotifyEvent, Planned, Planner, decode_event
from workers.notifier.store import DeliveryStore
from workers.relay import STREAM
from workers.settings import NotifySettings
from workers.stalls import StallLog

log = logging.getLogger(__name__)

BATCH = 100  # messages fetched at once
FETCH_WAIT = 1.0
RETRY_LATER = 5.0  # seconds before a message that failed for a passing reason comes again
SUBSCRIBE_RETRY = 1.0
LOADERS = 8  # tickets read at once: each is a round trip to the event store


class Consumer:
    def __init__(
        self,
        app: Docket,
        js: JetStreamContext,
        planner: Planner,
        store: DeliveryStore,
        subject: str,
        durable: str,
        settings: NotifySettings,
        name: str,
    ) -> None:
        self.app, self.js, self.planner, self.store = app, js, planner, store
        self.subject, self.durable, self.name = subject, durable, name
        self.max_age = timedelta(seconds=settings.max_age_seconds)
        self.ack_wait = settings.ack_wait_seconds  # set when the durable consumer is first made
        self.recorded = asyncio.Event()  # set after each batch recorded: the sender looks at once
        self.loading = ThreadPoolExecutor(LOADERS, thread_name_prefix="notifier-load")
        self.stall = StallLog(log)

    async def run(self, stop: asyncio.Event) -> None:
        subscription = await self.subscribe(stop)
        try:
            await self.consume(subscription, stop)
        finally:
            self.loading.shutdown(wait=False)
            if subscription is not None:  # else the connection's drain waits for the pull requests
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def consume(self, subscription: Any, stop: asyncio.Event) -> None:
        while subscription is not None and not stop.is_set():
            try:
                messages = await subscription.fetch(BATCH, timeout=FETCH_WAIT)
            except (NatsTimeout, TimeoutError):  # nothing new: fetch raises either, depending on when it gives up
                continue
            except NatsError as error:
                self.stall.failed("%s cannot fetch events (%s); trying again", self.name, error)
                await _pause(stop, SUBSCRIBE_RETRY)
                continue
            self.stall.succeeded("%s fetches events again", self.name)
            await self.handle(messages)

    async def subscribe(self, stop: asyncio.Event) -> Any:
        """The durable consumer, created with the one filter the role's NATS user may create it
        with; None if stopped first. Waits for the stream, which the relay makes."""
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait, max_ack_pending=10_000
        )
        waiting = False
        while not stop.is_set():
            try:
                subscription = await self.js.pull_subscribe(self.subject, durable=self.durable, stream=STREAM, config=config)
            except NotFoundError:  # no stream yet, as at a first start: no stall, the relay is making it
                if not waiting:
                    log.info("%s waits for stream %s, which the relay makes", self.name, STREAM)
                    waiting = True
                await _pause(stop, SUBSCRIBE_RETRY)
                continue
            except (TimeoutError, NatsError) as error:
                self.stall.failed("%s cannot consume %s from %s yet (%s); trying again", self.name, self.subject, STREAM, error)
                await _pause(stop, SUBSCRIBE_RETRY)
                continue
            self.stall.succeeded("%s reached %s", self.name, STREAM)
            log.info("%s consumes %s through durable consumer %s", self.name, self.subject, self.durable)
            return subscription
        return None

    async def handle(self, messages: list[Msg]) -> None:
        try:
            planned, later = await asyncio.to_thread(self.plan_all, messages)
            await self.store.record(planned)
        except Exception as error:  # noqa: BLE001 - the database, most likely: every message comes again
            log.warning("%s could not record the deliveries of %d events (%s); they come again", self.name, len(messages), error)
            later = set(range(len(messages)))
        for index, message in enumerate(messages):
            if index in later:
                await message.nak(delay=RETRY_LATER)
            else:
                await message.ack()
        self.recorded.set()

    def plan_all(self, messages: list[Msg]) -> tuple[list[Planned], set[int]]:
        """Every message's deliveries, and the messages to be asked for again. The tickets are read
        at once, on several connections; each tenant's rules and teams once for the batch; whether
        anyone opted out or is suppressed, in one query for most of the batch."""
        lookups = Lookups(self.app)
        read = list(self.loading.map(functools.partial(self.read_one, lookups=lookups), [message.data for message in messages]))
        later = {index for index, found in enumerate(read) if isinstance(found, Exception)}
        for index in sorted(later):
            log.warning("%s: reading from %s failed (%r); it comes again", self.name, messages[index].subject, read[index])
        events = [(index, found) for index, found in enumerate(read) if isinstance(found, tuple)]
        lookups.prefetch(uuid for _, (event, ticket) in events for uuid in self.planner.likely_lookups(event, ticket))
        planned: list[Planned] = []
        for index, (event, ticket) in events:
            try:
                planned.extend(self.planner.plan(event, messages[index].data, ticket, lookups))
            except Exception as error:  # noqa: BLE001 - one event's failure is its own
                log.warning("%s: planning from %s failed (%r); it comes again", self.name, messages[index].subject, error)
                later.add(index)
        return planned, later

    def read_one(self, data: bytes, lookups: Lookups) -> tuple[NotifyEvent, Ticket] | Exception | None:
        """The event and its ticket as it is now; None for what tells nobody (and is acknowledged),
        the error for what failed and comes again. A ticket is read only for an event that some
        rule in force may take up: most events tell nobody, and reading every one's ticket was
        most of what a notifier cost."""
        try:
            event = decode_event(data)
        except msgspec.DecodeError as error:  # ValidationError included
            log.warning("%s: skipping a message that is not a ticket event (%s)", self.name, error)
            return None
        if datetime.now(UTC) - event.at > self.max_age:
            log.info(
                "%s: skipping %s of ticket %s from %s: older than the notifier minds", self.name, event.event, event.ticket_id, event.at
            )
            return None
        try:
            if not self.planner.may_plan(event, lookups):
                return None
            ticket = self.app.repository.get(event.ticket_id)
        except AggregateNotFoundError:
            log.warning("%s: skipping %s of ticket %s, which the event store does not hold", self.name, event.event, event.ticket_id)
            return None
        except Exception as error:  # noqa: BLE001 - the database, most likely
            return error
        if not isinstance(ticket, Ticket) or ticket.tenant != event.tenant:
            log.warning("%s: skipping %s of %s, which is no ticket of tenant %s", self.name, event.event, event.ticket_id, event.tenant)
            return None
        return event, ticket


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
