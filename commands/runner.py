"""One unit of work for every use case: load, decide, save, with group commit.

A command decides in its caller's thread, on copies of the aggregates it loads: as this process
last saved them, without asking the store (another process's change since is caught when the
batch's insert finds the version taken); else from the application's cache, fast-forwarded to
their last stored version. A command that refuses on a copy the store was not asked about, or
reads one it does not change, is decided again on fast-forwarded ones: no commit checks those.
What a command recorded goes to one committer thread, which saves the changes of every command
waiting at that moment in one transaction: a commit is the expensive part, and many commands
share one. A command whose aggregate another command in the batch (or a batch committed since it
loaded) changed first is decided again, on the newer state, so two commands on one ticket never
both apply to one version.

When the batch's transaction fails (another process changed one of its aggregates, or one command
recorded what cannot be stored), it writes nothing. Where its commands decided on copies the store
was not asked about, they are all decided again on stored state and saved together once more;
else, or when that fails too, each is decided and saved again on its own: only a command that lost
a race fails (or is decided again, where retrying is right), or the one that cannot be stored. A
command is answered only after its commit.

Waits are bounded. A process holds at most `max_waiting` commands (deciding, queued or
committing): one more is refused before it decides (Overloaded). Only DECIDERS of them decide
at once; the others wait their turn asleep, off the interpreter lock, which the event loop then
takes without queueing behind every handler thread: under overload it refuses the surplus sooner.
A command waits for its turn and its commit at most `timeout` seconds from its call: one still
waiting or queued then is dropped, and was not saved; one already in a transaction may yet
commit, and its caller is told so (DatabaseUnavailable). A batch the database did not take fails
whole, at once, rather than one command at a time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import Application, LRUCache
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from commands.config_cache import ConfigCache
from commands.copies import aggregate_copy
from commands.deferred import Counted, Pending, deferring, wake
from commands.errors import DATABASE_DOWN, DatabaseUnavailable, Overloaded
from commands.metrics import observe_batch
from domain.errors import VersionConflict

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")

MAX_BATCH = 200
# Seconds a batch stays open for more commands after the first arrives; none by default: the
# commands that arrive while one batch commits make the next, so a lone command waits for nothing.
MAX_WAIT = 0.0
ATTEMPTS = 3  # times a command is decided again after another process changed what it loaded
LAST_SAVED_KEPT = 20_000  # aggregates kept as last saved, unless AGGREGATE_CACHE_MAXSIZE says otherwise
MAX_WAITING = 100  # commands a process holds at once (DOCKET_MAX_WAITING_COMMANDS)
TIMEOUT = 5.0  # seconds a command waits for the database (DOCKET_DB_TIMEOUT)
DECIDERS = 2  # commands a process decides at once; the rest wait without taking the interpreter lock


class Store(Protocol):
    """Where use cases load aggregates from: a Unit, or (to read outside a command) app.repository."""

    def get(self, aggregate_id: UUID) -> Any: ...


class Unit:
    """What one command loads and changes: its own copies, so a refused command changes nothing."""

    def __init__(
        self,
        app: Application,
        config: ConfigCache,
        newer: dict[UUID, Aggregate] | None = None,
        last_saved: LRUCache[UUID, Aggregate] | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.newer = newer or {}  # aggregates changed by earlier commands of the batch, not yet saved
        self.last_saved = last_saved  # aggregates as this process last saved them, read without asking the store
        self.loaded: dict[UUID, int] = {}  # id -> version when loaded
        self.changed: dict[UUID, Aggregate] = {}
        self.unchecked: set[UUID] = set()  # loaded from `last_saved`: another process may have moved them on

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate as the last command left it; AggregateNotFoundError when there is none."""
        return self._get(aggregate_id, self._load, aggregate_copy)

    def _load(self, aggregate_id: UUID) -> Any:
        if self.last_saved is not None:
            try:
                aggregate = self.last_saved.get(aggregate_id)
            except KeyError:
                pass
            else:
                self.unchecked.add(aggregate_id)
                return aggregate_copy(aggregate)
        return self.app.repository.get(aggregate_id)

    def get_config(self, aggregate_id: UUID) -> Any:
        """A tenant's configuration aggregate (settings, policies, rules, a team), from memory."""
        return self._get(aggregate_id, self.config.get, aggregate_copy)

    def read_config(self, aggregate_id: UUID) -> Any:
        """A tenant's configuration aggregate to read and not to change: as get_config gives it,
        without the copy (what this command or its batch changed, else the cache's own)."""
        return self._get(aggregate_id, self.config.read, lambda aggregate: aggregate)

    def _get(self, aggregate_id: UUID, load: Callable[[UUID], Any], copy: Callable[[Any], Any]) -> Any:
        """What this command changed; else, copied, what an earlier command of the batch changed;
        else what `load` gives."""
        if aggregate_id in self.changed:
            return self.changed[aggregate_id]
        aggregate = copy(self.newer[aggregate_id]) if aggregate_id in self.newer else load(aggregate_id)
        self.loaded[aggregate_id] = aggregate.version
        return aggregate

    def save(self, *aggregates: Aggregate | None) -> None:
        for aggregate in aggregates:
            if aggregate is not None and aggregate.pending_events:
                self.loaded.setdefault(aggregate.id, aggregate.version - len(aggregate.pending_events))
                self.changed[aggregate.id] = aggregate

    def event_keys(self) -> set[tuple[UUID, int]]:
        """(aggregate id, version) of each event this command recorded."""
        return {
            (aggregate_id, version)
            for aggregate_id, aggregate in self.changed.items()
            for version in range(self.loaded[aggregate_id] + 1, aggregate.version + 1)
        }


@dataclass(eq=False)
class Job(Generic[R]):
    decide: Callable[[Unit], R]
    unit: Unit
    result: R
    deadline: float = float("inf")  # time.monotonic() past which its caller stops waiting
    on_done: Callable[[], None] | None = None  # told once it is answered, from the thread that answered it
    notification_id: int | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    taken: bool = False  # into a batch: it may commit from then on
    abandoned: bool = False  # by its caller, whose bound passed first: it never will

    def finish(self) -> None:
        self.done.set()
        if self.on_done is not None:
            self.on_done()


class CommandRunner:
    def __init__(
        self,
        app: Application,
        config: ConfigCache,
        *,
        max_batch: int = MAX_BATCH,
        max_wait: float = MAX_WAIT,
        max_waiting: int = MAX_WAITING,
        timeout: float = TIMEOUT,
    ) -> None:
        self.app = app
        self.config = config
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_waiting = max_waiting
        self.timeout = timeout
        self.waiting = 0  # commands in run(), from admission to answer
        self._counting = threading.Lock()
        self._claims = threading.Lock()  # a job is taken or abandoned, never both
        self._queue: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        # Aggregates as this process last saved them; one that has left is caught, if stale, by the
        # version check at save.
        self._last_saved: LRUCache[UUID, Aggregate] = LRUCache(maxsize=int(app.env.get("AGGREGATE_CACHE_MAXSIZE") or LAST_SAVED_KEPT))
        self._start_lock = threading.Lock()
        self._committer: threading.Thread | None = None
        self._deciding = threading.BoundedSemaphore(DECIDERS)
        self.batches = 0  # saved together, for tests

    def run(self, decide: Callable[[Unit], R], answer: Callable[[R, int | None], T], *, name: str | None = None) -> T:
        """Decides, saves with whatever else is waiting, and answers with what `answer` makes of
        the decision and the command's last notification id (None when it recorded nothing).

        `decide` may run more than once, on newer state each time, so it must do nothing but load
        through its Unit and ask the aggregates (a command that names the version it expects
        refuses then). It raises a domain error to refuse. `name` names it in the metrics (default:
        the use case that defined `decide`).

        Called where `deferring` names an event loop (commands/deferred.py), it returns once the
        command is decided and queued: a Pending, whose answer that loop awaits, holding no thread.
        `answer` then runs on the loop, so it must wait on nothing (no query, no file)."""
        if threading.current_thread() is self._committer:
            raise RuntimeError("A command cannot run another command while it decides.")
        counted = Counted(self, name or decide.__qualname__.split(".")[0])
        loop = deferring.get()
        try:
            counted.admit()
            if loop is None:
                return counted.settle(self._answered(self._waited(self._queued(decide)), answer))
            answered = loop.create_future()
            job = self._queued(decide, lambda: wake(loop, answered))
            return Pending(job, answer, answered, counted)  # type: ignore[return-value] - its caller awaits it
        except BaseException as error:
            counted.settle_error(error)
            raise

    def _admit(self) -> None:
        with self._counting:
            if self.waiting >= self.max_waiting:
                raise Overloaded(Overloaded.message)
            self.waiting += 1

    def _release(self) -> None:
        with self._counting:
            self.waiting -= 1

    def _queued(self, decide: Callable[[Unit], R], on_done: Callable[[], None] | None = None) -> Job[R]:
        """The command decided, and queued for the committer when it changed something (else done)."""
        deadline = time.monotonic() + self.timeout
        if not self._deciding.acquire(timeout=self.timeout):  # those deciding wait for the database
            raise DatabaseUnavailable(saved=False)
        try:
            unit, result = self._decided(decide)
        finally:
            self._deciding.release()
        job = Job(decide, unit, result, deadline=deadline, on_done=on_done)
        if not unit.changed:
            job.finish()
            return job
        self._ensure_committer()
        self._queue.put(job)
        return job

    def _waited(self, job: Job[R]) -> Job[R]:
        """The job once answered; DatabaseUnavailable when its bound passes first."""
        if not job.done.wait(max(job.deadline - time.monotonic(), 0)):
            self._give_up(job)
        return job

    @staticmethod
    def _answered(job: Job[R], answer: Callable[[R, int | None], T]) -> T:
        if job.error is not None:
            raise job.error
        return answer(job.result, job.notification_id)

    def _decided(self, decide: Callable[[Unit], R], newer: dict[UUID, Aggregate] | None = None) -> tuple[Unit, R]:
        """Decides on the aggregates as this process last saved them. A command that refuses
        there, or reads one it does not change, where another process may have moved them on, is
        decided again on what is stored: its commit will not check the versions its answer rests on."""
        unit = Unit(self.app, self.config, newer, self._last_saved)
        try:
            result = decide(unit)
        except Exception:
            if not unit.unchecked:
                raise
        else:
            if unit.unchecked <= unit.changed.keys():
                return unit, result
        self._forget(dict.fromkeys(unit.unchecked))
        unit = Unit(self.app, self.config, newer)
        return unit, decide(unit)

    def _give_up(self, job: Job[Any]) -> None:
        """The command's bound has passed: a job no batch has taken is dropped, and was not saved;
        one in a transaction may still commit, and its caller cannot know. (One answered meanwhile
        is left to its answer.)"""
        with self._claims:
            if not job.taken:
                job.abandoned = True
                raise DatabaseUnavailable(saved=False)
        if not job.done.is_set():
            raise DatabaseUnavailable(saved=None)

    def _take(self, batch: list[Job[Any] | None]) -> list[Job[Any]]:
        """The jobs of a batch whose callers still wait; they may commit from now on."""
        with self._claims:
            jobs = [job for job in batch if job is not None and not job.abandoned]
            for job in jobs:
                job.taken = True
        return jobs

    def close(self) -> None:
        """Commits what is queued, waiting for it at most `timeout` seconds."""
        if self._committer is not None:
            self._queue.put(None)
            self._committer.join(self.timeout)
            if self._committer.is_alive():
                log.warning("the committer did not finish within %gs (is the database answering?); leaving it", self.timeout)
            self._committer = None

    def _ensure_committer(self) -> None:
        with self._start_lock:
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_forever, name="docket-committer", daemon=True)
                self._committer.start()

    def _commit_forever(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first, *self._gather(self.max_batch - 1)]
            jobs = self._take(batch)
            try:
                if jobs:
                    self._commit(jobs)
            except BaseException as error:  # noqa: BLE001 - every caller must hear of it
                log.exception("a batch of %d commands failed", len(jobs))
                for job in jobs:
                    if not job.done.is_set():
                        job.error = error
                        job.finish()
            if batch[-1] is None:
                return

    def _gather(self, limit: int) -> Iterable[Job[Any] | None]:
        deadline = time.monotonic() + self.max_wait
        for _ in range(limit):
            try:
                job = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                return
            yield job
            if job is None:
                return

    def _commit(self, jobs: list[Job[Any]], *, again: bool = False) -> None:
        newer: dict[UUID, Aggregate] = {}
        accepted = [job for job in jobs if self._decided_on_latest(job, newer, again)]
        try:
            recordings = self.app.save(*newer.values())
        except DATABASE_DOWN as error:
            # Saved one at a time, each would wait as long again: every command hears at once.
            log.warning(
                "a batch of %d commands may not have been saved: the database did not answer (%s)", len(accepted), type(error).__name__
            )
            self._forget(newer)
            for job in accepted:
                job.error = unavailable(error)
                job.finish()
            observe_batch(len(accepted), "unavailable")
            return
        except Exception as error:  # noqa: BLE001 - each command then meets its own fate
            self._forget(newer)
            if isinstance(error, IntegrityError) and not again and (unchecked := self._unchecked(accepted)):
                log.info("a batch of %d commands met another process's changes; deciding them again on what is stored", len(accepted))
                self._forget(unchecked)
                self._commit(accepted, again=True)
                return
            log.info("a batch of %d commands could not be saved together (%s); saving each on its own", len(accepted), type(error).__name__)
            for job in accepted:
                self._commit_alone(job)
            observe_batch(len(accepted), "alone")
            return
        self._remember(newer)
        self._answer(accepted, recordings)
        self.batches += 1
        observe_batch(len(accepted), "together")

    def _decided_on_latest(self, job: Job[Any], newer: dict[UUID, Aggregate], again: bool = False) -> bool:
        """Decides the job again where what it loaded has changed since (or `again`); adds what it
        changed to the batch. False when it is refused now: the job is answered with the refusal."""
        if again or self._stale(job.unit, newer):
            try:
                job.unit, job.result = self._decided(job.decide, newer)
            except Exception as error:  # noqa: BLE001 - a refusal, answered to its caller
                job.error = error
                job.finish()
                return False
        newer.update(job.unit.changed)
        return True

    @staticmethod
    def _unchecked(jobs: list[Job[Any]]) -> dict[UUID, None]:
        """The aggregates the jobs decided on as this process last saved them, unasked of the store."""
        return {aggregate_id: None for job in jobs for aggregate_id in job.unit.unchecked}

    def _stale(self, unit: Unit, newer: dict[UUID, Aggregate]) -> bool:
        for aggregate_id, version in unit.loaded.items():
            if aggregate_id in newer:
                if newer[aggregate_id].version != version:
                    return True
            elif self._saved_version(aggregate_id) > version:
                return True
        return False

    def _saved_version(self, aggregate_id: UUID) -> int:
        try:
            return self._last_saved.get(aggregate_id).version
        except KeyError:
            return -1

    def _commit_alone(self, job: Job[Any]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                job.unit = Unit(self.app, self.config)
                job.result = job.decide(job.unit)
                recordings = self.app.save(*job.unit.changed.values())
            except IntegrityError:
                self._forget(job.unit.changed)
                if attempt < ATTEMPTS:
                    continue
                job.error = VersionConflict("Someone else changed this at the same time; reload it and retry.")
            except DATABASE_DOWN as error:
                self._forget(job.unit.changed)
                job.error = unavailable(error)
            except Exception as error:  # noqa: BLE001 - a refusal on the newer state, or the database
                job.error = error
            else:
                self._remember(job.unit.changed)
                self._answer([job], recordings)
                return
            job.finish()
            return

    def _answer(self, jobs: list[Job[Any]], recordings: list) -> None:
        positions = {(r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id for r in recordings}
        for job in jobs:
            job.notification_id = max((positions[key] for key in job.unit.event_keys() if key in positions), default=None)
            job.finish()

    def _remember(self, saved: dict[UUID, Aggregate]) -> None:
        """Keeps what was saved as the next command will load it; the store's cached copy, older,
        goes."""
        self.config.evict(saved)
        evict(self.app.repository.cache, saved)
        for aggregate_id, aggregate in saved.items():
            self._last_saved.put(aggregate_id, aggregate)

    def _forget(self, aggregates: dict[UUID, Aggregate | None]) -> None:
        """Drops cached copies that another process may have overtaken."""
        self.config.evict(aggregates)
        evict(self.app.repository.cache, aggregates)
        evict(self._last_saved, aggregates)


def evict(cache: LRUCache[UUID, Any] | None, ids: Iterable[UUID]) -> None:
    if cache is not None:
        for aggregate_id in ids:
            try:
                cache.get(aggregate_id, evict=True)
            except KeyError:
                pass


def unavailable(error: BaseException) -> DatabaseUnavailable:
    """What a command in a transaction the database did not finish hears: it may have committed."""
    outcome = DatabaseUnavailable(saved=None)
    outcome.__cause__ = error
    return outcome
