"""Sends what the delivery record holds and is due: new deliveries, retries whose time has come,
deliveries a dead notifier held the lease of, and those `docket notifications retry` queued.

Each channel's due rows are claimed (as many as its rate and this notifier's room allow) and sent
at once, each on its own task; each outcome is recorded as it comes: sent; failed, with its next
attempt after a backoff with jitter (or the provider's Retry-After); dead, when the failure is
permanent or the attempts have run out, and then on DOCKET_NOTIFY_DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from domain.contacts import mask
from domain.notification_rules import CHANNELS
from workers.notifier.backoff import retry_delay
from workers.notifier.channels import Channel, Failed, Outcome, Sent
from workers.notifier.dead_letters import ensure_dead_letter_stream, publish_dead
from workers.notifier.store import Claimed, DeliveryStore
from workers.settings import NotifySettings
from workers.stalls import StallLog

log = logging.getLogger(__name__)

IDLE_WAIT = 1.0  # the longest the sender sleeps with nothing due: retries queued by the CLI wait no longer
DEAD_CHECK = 5.0  # how often dead deliveries not yet on DOCKET_NOTIFY_DLQ are looked for (at once after one dies)
COALESCE = 0.005


class Sender:
    def __init__(
        self,
        store: DeliveryStore,
        channels: Mapping[str, Channel],
        settings: NotifySettings,
        js: JetStreamContext | None,
        name: str,
        replicas: int | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.settings = settings
        self.js = js
        self.name = name
        self.in_flight: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.rng = random.Random()
        self.lease = settings.timeout + 5  # beyond any one send and its record (a send is bounded by the timeout)
        self.stall = StallLog(log)
        self.sent = 0  # deliveries this notifier sent, for tests and the log
        self._publishing = asyncio.Lock()
        self.replicas = replicas  # of DOCKET_NOTIFY_DLQ, when this notifier makes it
        self.dead_letters_ready = False
        self.dead_waiting = True  # a delivery died (or the notifier just started): publish what is unpublished
        self.next_dead_check = 0.0
        self.turn = 0  # which channel is claimed first, in turn
        self.dead_letter_stall = StallLog(log)

    def rates(self) -> dict[str, float]:
        return {channel: float(getattr(self.settings, f"rate_{channel}", 1_000_000.0)) for channel in CHANNELS}

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self.wake.clear()  # a wake from here on (a batch recorded, a send done) cuts the next sleep short
                try:
                    pause = await self.sweep()
                except Exception as error:  # noqa: BLE001 - the database may be away: the record waits
                    self.stall.failed("%s cannot reach the delivery record (%s); trying again", self.name, error)
                    pause = IDLE_WAIT
                else:
                    self.stall.succeeded("%s reaches the delivery record again", self.name)
                if pause > 0:
                    await self._sleep(stop, pause)
        finally:
            if self.in_flight:  # let what is in flight finish (each is bounded by the timeout) and be recorded
                await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def sweep(self) -> float:
        """Claims and starts what is due; answers how long to wait before looking again (0: at once)."""
        now = asyncio.get_running_loop().time()
        if self.dead_waiting or now >= self.next_dead_check:
            self.dead_waiting, self.next_dead_check = False, now + DEAD_CHECK
            await self.publish_dead()
        room = self.settings.concurrency - len(self.in_flight)
        if room <= 0:
            return IDLE_WAIT  # a finishing send wakes the sender
        self.turn = (self.turn + 1) % len(CHANNELS)
        order = CHANNELS[self.turn :] + CHANNELS[: self.turn]
        claimed, token_wait = await self.store.claim(order, room, self.lease, self.rates())
        for delivery in claimed:
            task = asyncio.create_task(self.deliver(delivery))
            self.in_flight.add(task)
            task.add_done_callback(self._done)
        if len(claimed) == room:
            return 0.0  # there may be more: look again as soon as there is room
        waits = [IDLE_WAIT] + ([token_wait] if token_wait is not None else [])
        if not claimed and token_wait is None and (due := await self.store.seconds_to_next_due()) is not None:
            waits.append(due)
        return max(min(waits), 0.005)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.wake.set()

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self.wake.is_set():
            await asyncio.sleep(COALESCE)  # sends finish one by one: claim for several at once

    async def deliver(self, delivery: Claimed) -> None:
        outcome = await self.attempt(delivery)
        try:
            await self.record(delivery, outcome)
        except Exception:
            # The lease runs out and another attempt follows: the provider may see this one twice,
            # with the same idempotency key.
            log.exception("%s could not record the outcome of delivery %s", self.name, delivery.id)

    async def attempt(self, delivery: Claimed) -> Outcome:
        channel = self.channels.get(delivery.channel)
        if channel is None:
            return Failed(f"the {delivery.channel} channel is not configured in this notifier", transient=False)
        try:
            return await asyncio.wait_for(channel.send(delivery.id, delivery.message), self.settings.timeout)
        except TimeoutError:
            return Failed(f"no answer within {self.settings.timeout:g}s", transient=True)
        except Exception as error:  # noqa: BLE001 - whatever a channel raises is this delivery's failure only
            log.warning("%s: sending delivery %s by %s failed unexpectedly: %r", self.name, delivery.id, delivery.channel, error)
            return Failed(f"{type(error).__name__}: {error}", transient=True)

    async def record(self, delivery: Claimed, outcome: Outcome) -> None:
        if isinstance(outcome, Sent):
            await self.store.sent(delivery.id, outcome.provider_message_id)
            self.sent += 1
            log.debug("%s sent delivery %s by %s", self.name, delivery.id, delivery.channel)
            return
        error = masked(outcome.error, delivery.message)
        if outcome.transient and delivery.attempts < self.settings.max_attempts:
            wait = retry_delay(
                delivery.attempts, self.settings.backoff_seconds, self.settings.backoff_max_seconds, outcome.retry_after, self.rng
            )
            await self.store.failed(delivery.id, error, wait)
            log.info(
                "%s: delivery %s by %s failed (%s); attempt %d in %.1fs",
                self.name,
                delivery.id,
                delivery.channel,
                error,
                delivery.attempts + 1,
                wait,
            )
            return
        await self.store.dead(delivery.id, error)
        log.warning(
            "%s: delivery %s by %s is dead after %d attempts: %s", self.name, delivery.id, delivery.channel, delivery.attempts, error
        )
        await self.publish_dead()

    async def publish_dead(self) -> None:
        """Publishes the dead deliveries not yet on DOCKET_NOTIFY_DLQ; the rest wait for NATS."""
        if self.js is None or self._publishing.locked():
            return
        async with self._publishing:
            await self._publish_dead(self.js)

    async def _publish_dead(self, js: JetStreamContext) -> None:
        for dead in await self.store.unpublished_dead():
            try:
                if not self.dead_letters_ready:
                    await ensure_dead_letter_stream(js, self.replicas)
                    self.dead_letters_ready = True
                await publish_dead(js, dead, self.store.sensitive)
            except (TimeoutError, NatsError) as error:
                self.dead_letters_ready = False
                self.dead_letter_stall.failed("%s cannot publish dead deliveries to the dead-letter stream yet (%s)", self.name, error)
                return
            self.dead_letter_stall.succeeded("%s publishes dead deliveries again", self.name)
            await self.store.published(dead.id, dead.attempts)


def masked(error: str, message: Mapping[str, object]) -> str:
    """The error with the recipient's address masked: providers like to repeat it."""
    address = message.get("to") if isinstance(message.get("to"), str) else None
    if not address:
        return error
    shown = mask(address)
    with contextlib.suppress(Exception):
        error = error.replace(address, shown)
        if address.startswith("+"):
            error = error.replace(address[1:], shown)
    return error
