"""Keeps one projection's tables current, and keeps it going through failures.

New events are applied in batches, many events and one tracking position per transaction. A batch
that fails rolls back whole; the loop then records that the projection is stalled (where /health
reads it, from any process), waits, doubling the wait up to a bound, and tries again from its
tracked position. It reuses the application's connection pool and one listening connection, so a
hundred failures open no new connections, and it stops within a second of being asked to.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import psycopg
from psycopg.sql import SQL, Identifier

from commands.app import Docket
from commands.config_cache import conninfo
from projections.base import TrackedProjection
from projections.health import clear_stall, record_stall
from projections.operations import LINGER, events_after, tracking_recorder

log = logging.getLogger(__name__)

BATCH = 500
IDLE_WAIT = 1.0  # the longest a caught-up loop waits before looking again without a NOTIFY
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 30.0


class ProjectionLoop:
    def __init__(
        self,
        app: Docket,
        projection_class: type[TrackedProjection],
        *,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self.app = app
        self.datastore = app.recorder.datastore
        self.view = tracking_recorder(self.datastore, projection_class.name)
        self.projection = projection_class(self.view)
        self.name = projection_class.name
        self.position = 0
        self.failures = 0  # in a row; 0 when the last batch went through
        self.first_backoff, self.max_backoff = first_backoff, max_backoff

    def run(self, stop: threading.Event) -> None:
        """Follows the event store until stop is set; never raises."""
        log.info("projection %s following the event store", self.name)
        while not stop.is_set():
            try:
                self._follow(stop)
            except Exception as error:  # noqa: BLE001 - whatever failed, the loop must go on
                self._stalled(error)
                stop.wait(self.backoff())
        log.info("projection %s stopped at notification %s", self.name, self.position)

    def backoff(self) -> float:
        return min(self.first_backoff * 2 ** (self.failures - 1), self.max_backoff)

    def wait(self, notification_id: int, timeout: float) -> None:
        """Blocks until the tables hold every event up to notification_id (for tests and callers
        that must read their own writes); TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while (self.view.max_tracking_id(self.app.name) or 0) < notification_id:
            if time.monotonic() > deadline:
                raise TimeoutError(f"projection {self.name} did not reach notification {notification_id} in {timeout}s")
            time.sleep(0.01)

    def _follow(self, stop: threading.Event) -> None:
        with self._listening() as listener:
            self.position = self.view.max_tracking_id(self.app.name) or 0
            while not stop.is_set():
                began = time.monotonic()
                batch = events_after(self.app, self.position, self.projection.topics, BATCH)
                if not batch:
                    _wait_for_notify(listener)
                    continue
                with self.datastore.transaction(commit=True) as curs:
                    self.projection.apply_batch(curs, batch)
                self.position = batch[-1][1].notification_id
                if self.failures:
                    self._recovered()
                if len(batch) < BATCH:
                    stop.wait(began + LINGER - time.monotonic())

    @contextlib.contextmanager
    def _listening(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(conninfo(self.app), autocommit=True) as listener:
            listener.execute(SQL("LISTEN {}").format(Identifier(self.app.recorder.channel_name)))
            yield listener

    def _stalled(self, error: Exception) -> None:
        self.failures += 1
        log.error(
            "projection %s failed after notification %s (%d in a row); retrying in %.1fs",
            self.name,
            self.position,
            self.failures,
            self.backoff(),
            exc_info=error,
        )
        try:
            record_stall(self.datastore, self.name, self.position, self.failures, type(error).__name__)
        except Exception as unrecorded:  # noqa: BLE001 - the database itself may be what failed
            log.warning("could not record the stall of projection %s: %s", self.name, unrecorded)

    def _recovered(self) -> None:
        log.info("projection %s recovered after %d failures, at notification %s", self.name, self.failures, self.position)
        clear_stall(self.datastore, self.name)
        self.failures = 0


def _wait_for_notify(listener: psycopg.Connection) -> None:
    """Returns on the event store's NOTIFY, or after IDLE_WAIT at the latest."""
    for _ in listener.notifies(timeout=IDLE_WAIT, stop_after=1):
        return
