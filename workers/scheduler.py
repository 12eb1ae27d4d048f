"""The SLA scheduler: a timer for every open deadline; at a deadline, a breach and an escalation.

One scheduler is active at a time: it holds a PostgreSQL advisory lock on its own connection.
Standbys try for the lock every second, so one takes over within seconds when the active one
dies (its connection closes and the lock goes with it). The active one loads its timers from the
read model, keeps them current from the events on NATS, and reloads them every RESYNC seconds in
case an event went by while it was not listening. Firing twice is harmless: the ticket records a
breach only once.

NATS only hastens the timers; the read model is their source. So the scheduler leads without NATS
when NATS does not answer (within the bound of connect_nats), keeping its timers by the resyncs,
and tries NATS again at each resync; it logs when it loses NATS and when it has it back, once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
import nats
import psycopg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from nats.errors import Error as NatsError
from sqlalchemy.engine import Engine

from commands.app import Docket
from commands.breaches import breach_sla
from domain.sla import KINDS, utc_now
from projections.sla_queries import open_deadlines
from workers.relay import close_nats, connect_nats
from workers.stalls import StallLog

log = logging.getLogger(__name__)
# APScheduler logs every timer it adds: thousands of lines per resync. _resync sums them up.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

LOCK = "docket.sla-scheduler"
STANDBY_POLL = 1.0
RESYNC = 30.0
SUBJECTS = ("docket.*.tickets.>", "docket.*.sensitive.>")

Clock = Callable[[], datetime]


class ClockEvent(msgspec.Struct):
    event: str
    ticket_id: UUID
    kind: str | None = None
    response_due: datetime | None = None
    resolution_due: datetime | None = None


class SLAScheduler:
    def __init__(
        self, app: Docket, engine: Engine, database_url: str, nats_url: str, clock: Clock = utc_now, name: str = "docket-scheduler"
    ) -> None:
        self.app, self.engine, self.database_url, self.nats_url = app, engine, database_url, nats_url
        self.clock, self.name = clock, name
        self.fired = 0  # breaches this scheduler recorded
        self.stall = StallLog(log)

    async def run(self, stop: asyncio.Event) -> None:
        """Stands by until it holds the lock, then leads until stopped or the lock is lost."""
        while not stop.is_set():
            async with leadership(self.database_url, stop, self.name) as lock:
                if lock is None:
                    return
                await self._lead(lock, stop)

    async def _lead(self, lock: psycopg.AsyncConnection, stop: asyncio.Event) -> None:
        timers = AsyncIOScheduler(timezone=UTC)
        timers.start()
        client: nats.NATS | None = None
        try:
            first = True
            while not stop.is_set():
                if client is None:
                    client = await self._listen(timers)
                await self._resync(timers, logging.INFO if first else logging.DEBUG)
                first = False
                if not await _hold(lock, stop, RESYNC):
                    log.warning("%s lost the scheduler lock; standing by", self.name)
                    return
        finally:
            timers.shutdown(wait=False)
            if client is not None:
                await close_nats(client)

    async def _listen(self, timers: AsyncIOScheduler) -> nats.NATS | None:
        """A connection to NATS that keeps the timers current from the events; None if NATS does
        not answer now. Once made, it reconnects by itself (connect_nats logs the outages)."""

        async def on_event(msg) -> None:
            self._on_event(timers, msg.data)

        try:
            client = await connect_nats(self.nats_url, self.name, inbox_prefix="_INBOX_scheduler")
        except (TimeoutError, NatsError, OSError) as error:
            why = str(error) or type(error).__name__
            self.stall.failed(
                "%s cannot reach NATS (%s); keeping its timers by the read model, trying again in %gs", self.name, why, RESYNC
            )
            return None
        try:
            for subject in SUBJECTS:
                await client.subscribe(subject, cb=on_event)
        except (TimeoutError, NatsError) as error:
            self.stall.failed("%s cannot subscribe to ticket events (%s); trying again in %gs", self.name, error, RESYNC)
            await close_nats(client)
            return None
        self.stall.succeeded("%s follows the ticket events on NATS", self.name)
        return client

    async def _resync(self, timers: AsyncIOScheduler, level: int = logging.DEBUG) -> None:
        """Sets the timers to the read model's open deadlines; logs one line about them at `level`."""
        deadlines = await asyncio.to_thread(open_deadlines, self.engine)
        wanted = {f"{d.ticket_id}:{d.kind}" for d in deadlines}
        for job in timers.get_jobs():
            if job.id not in wanted:
                job.remove()
        for d in deadlines:
            self._set_timer(timers, d.ticket_id, d.kind, d.due)
        next_due = min((d.due for d in deadlines), default=None)
        log.log(level, "%s holds %d SLA timers, next due at %s", self.name, len(deadlines), next_due.isoformat() if next_due else "none")

    def _on_event(self, timers: AsyncIOScheduler, data: bytes) -> None:
        try:
            event = msgspec.json.decode(data, type=ClockEvent)
        except msgspec.ValidationError:
            return
        if event.event in ("SLADeadlinesSet", "SLAResumed"):
            for kind in KINDS:
                if (due := getattr(event, f"{kind}_due")) is not None:
                    self._set_timer(timers, event.ticket_id, kind, due)
        elif event.event in ("SLAPaused", "Archived"):
            for kind in KINDS:
                self._drop_timer(timers, event.ticket_id, kind)
        elif event.event in ("SLAMet", "SLABreached") and event.kind:
            self._drop_timer(timers, event.ticket_id, event.kind)

    def _set_timer(self, timers: AsyncIOScheduler, ticket_id: UUID, kind: str, due: datetime) -> None:
        """A timer at `due` on the scheduler's clock (which tests may run ahead of the wall clock)."""
        run_at = datetime.now(UTC) + (due - self.clock())
        timers.add_job(
            self._fire,
            "date",
            run_date=run_at,
            args=(ticket_id, kind),
            id=f"{ticket_id}:{kind}",
            replace_existing=True,
            misfire_grace_time=None,  # a late timer still fires
        )

    @staticmethod
    def _drop_timer(timers: AsyncIOScheduler, ticket_id: UUID, kind: str) -> None:
        with contextlib.suppress(Exception):
            timers.remove_job(f"{ticket_id}:{kind}")

    async def _fire(self, ticket_id: UUID, kind: str) -> None:
        try:
            if await asyncio.to_thread(breach_sla, self.app, ticket_id, kind, self.clock()):
                self.fired += 1
        except Exception:
            log.exception("recording the %s breach of ticket %s failed; the next resync retries", kind, ticket_id)


@contextlib.asynccontextmanager
async def leadership(database_url: str, stop: asyncio.Event, name: str) -> AsyncIterator[psycopg.AsyncConnection | None]:
    """The connection that holds the scheduler lock, once it is ours; None if stopped first."""
    announced = False
    while not stop.is_set():
        try:
            conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        except psycopg.OperationalError as error:
            log.warning("%s cannot reach PostgreSQL for the scheduler lock: %s", name, error)
            await _sleep(stop, STANDBY_POLL)
            continue
        async with conn:
            if await _try_lock(conn):
                log.info("%s is the active SLA scheduler", name)
                yield conn
                return
            if not announced:
                log.info("%s stands by: another scheduler is active", name)
                announced = True
        await _sleep(stop, STANDBY_POLL)
    yield None


async def _try_lock(conn: psycopg.AsyncConnection) -> bool:
    cursor = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK,))
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _hold(lock: psycopg.AsyncConnection, stop: asyncio.Event, seconds: float) -> bool:
    """Waits `seconds` (or until stop), checking every second that the lock's connection lives."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
        try:
            await lock.execute("SELECT 1")
        except psycopg.Error:
            return False
        await _sleep(stop, STANDBY_POLL)
    return True


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def offset_clock(ahead: timedelta) -> Clock:
    """A clock running `ahead` of the wall clock: what a test (or a drill) injects."""
    return lambda: utc_now() + ahead
