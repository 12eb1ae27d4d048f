"""Tenant configuration in memory: settings and workflows, SLA policies, routing rules, teams.

Every command of a tenant reads its configuration, and it seldom changes: so it is read from the
event store once per process and kept, and its own events keep it current. This process's saves
evict what they changed at once; a follower thread reads the configuration events other processes
store (woken by the event store's NOTIFY, and looking at least every second) and evicts what they
changed. A command still decides against the version it read: the command runner decides again
when this process saved a newer one before the command's batch.

Under load every commit anywhere is a NOTIFY: the follower looks no more often than every LINGER
seconds, with one query on its listening connection (the head, and the ids of the configuration
aggregates changed below it), not a transaction from the pool for each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from psycopg.sql import SQL, Identifier

from commands.copies import aggregate_copy

log = logging.getLogger(__name__)

FOLLOW_WAIT = 1.0  # the longest a change by another process goes unseen when a NOTIFY is missed
LINGER = 0.05  # the least time between two looks
RETRY_WAIT = 1.0
CHANGED = 500  # configuration events read per query


class ConfigCache:
    def __init__(self, app: Application, topics: tuple[str, ...]) -> None:
        self.app = app
        self.topics = topics
        self._entries: dict[UUID, Any] = {}  # id -> aggregate, or None where none is stored
        self._lock = threading.Lock()
        self._position: int | None = None  # the last configuration event seen; None: not following yet
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()

    def get(self, aggregate_id: UUID) -> Any:
        """A copy of the aggregate as last stored; AggregateNotFoundError where there is none."""
        return aggregate_copy(self.read(aggregate_id))

    def read(self, aggregate_id: UUID) -> Any:
        """The aggregate as last stored, itself: to read, never to change (every command of the
        process shares it); AggregateNotFoundError where there is none."""
        self._ensure_following()
        with self._lock:
            found = aggregate_id in self._entries
            aggregate = self._entries.get(aggregate_id)
        if not found:
            aggregate = self._load(aggregate_id)
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._entries.pop(aggregate_id, None)

    def close(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join()

    def _load(self, aggregate_id: UUID) -> Any:
        try:
            aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        with self._lock:
            self._entries.setdefault(aggregate_id, aggregate)
        return aggregate

    def _ensure_following(self) -> None:
        if self._follower is not None:
            return
        with self._lock:
            if self._follower is None:
                # Changes from here on are seen; the cache is empty, so nothing earlier matters.
                self._position = self.app.recorder.max_notification_id() or 0
                self._follower = threading.Thread(target=self._follow, name="docket-config-cache", daemon=True)
                self._follower.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_changes()
            except Exception as error:  # noqa: BLE001 - the database may be away: forget all, try again
                log.warning("configuration cache lost track of changes (%s); reading afresh when it can", error)
                self._position = None
                self._stop.wait(RETRY_WAIT)

    def _follow_changes(self) -> None:
        with psycopg.connect(conninfo(self.app), autocommit=True) as listener:
            listener.execute(SQL("LISTEN {}").format(Identifier(self.app.recorder.channel_name)))
            if self._position is None:  # changes may have been missed: whatever is kept may be stale
                self._position = self.app.recorder.max_notification_id() or 0
                with self._lock:
                    self._entries.clear()
            changed = changed_since(self.app)
            while not self._stop.is_set():
                self._catch_up(listener, changed)
                self._stop.wait(LINGER)  # the NOTIFYs meanwhile wait in the connection's backlog
                for _ in listener.notifies(timeout=FOLLOW_WAIT, stop_after=1):
                    pass

    @property
    def seen_up_to(self) -> int | None:
        """The last event (of any kind) the cache has looked past; None: not following."""
        return self._position

    def _catch_up(self, conn: psycopg.Connection[Any], changed: SQL) -> None:
        """Evicts what the configuration events stored since the last look changed, then moves
        past every event up to the head, whatever its kind: moved only past configuration events,
        each look (one per commit anywhere) would read again every ticket event stored since the
        last configuration change, a range that only grows. (The event store commits notification
        ids in order, so none below the head can appear later.)"""
        while True:
            rows = conn.execute(changed, (self._position or 0, list(self.topics), CHANGED)).fetchall()
            head = rows[0][0]
            found = [(notification_id, aggregate_id) for _, notification_id, aggregate_id in rows if notification_id is not None]
            self.evict(aggregate_id for _, aggregate_id in found)
            if len(found) < CHANGED:
                self._position = max(self._position or 0, head)
                return
            self._position = found[-1][0]


def changed_since(app: Application) -> SQL:
    """The head of the event store, beside each configuration event after a position up to it
    (none: one row of nulls): (head, notification id, aggregate id)."""
    return SQL(
        "WITH head AS (SELECT coalesce(max(notification_id), 0) AS id FROM {events}) "
        "SELECT head.id, e.notification_id, e.originator_id FROM head LEFT JOIN LATERAL ("
        "SELECT notification_id, originator_id FROM {events} WHERE notification_id > %s AND notification_id <= head.id "
        "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s) e ON true ORDER BY e.notification_id"
    ).format(events=Identifier(app.recorder.events_table_name))


def conninfo(app: Application) -> str:
    """The event store's database, from the application's settings (eventsourcing_env)."""
    env = app.env
    return psycopg.conninfo.make_conninfo(
        dbname=env.get("POSTGRES_DBNAME"),
        host=env.get("POSTGRES_HOST"),
        port=env.get("POSTGRES_PORT"),
        user=env.get("POSTGRES_USER"),
        password=env.get("POSTGRES_PASSWORD") or None,
    )
