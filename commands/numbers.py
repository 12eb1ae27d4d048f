"""Tracking numbers from a PostgreSQL counter per tenant, reserved in blocks per process.

No aggregate that every open writes: a process takes a block of numbers in one short transaction
and hands them out from memory. A number is never issued twice; a process that stops leaves the
rest of its block unused (gaps are allowed). A tenant whose block lasted less than BUSY seconds
gets one twice the size next time (up to MAX_BLOCK): under a storm of reports, every open waits
less often for a reservation; at ordinary rates the gaps a restart leaves stay small.
"""

from __future__ import annotations

import threading
import time

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.postgres import PostgresDatastore

from domain.tracking import TrackingNumbers, format_tracking_number

TABLE = "tracking_number_counters"
BLOCK = 50
MAX_BLOCK = 1000
BUSY = 1.0  # seconds: a block used up faster than this was too small


class TrackingNumberBlocks:
    def __init__(self, app: Application, block: int = BLOCK) -> None:
        self.app = app
        self.block = block
        self._lock = threading.Lock()
        self._blocks: dict[str, range] = {}  # per tenant, the numbers reserved and not yet issued
        self._sizes: dict[str, tuple[int, float]] = {}  # per tenant, the last block's size and when it was reserved
        self._table_made = False

    def issue(self, tenant: str) -> str:
        with self._lock:
            numbers = self._blocks.get(tenant) or self._reserve(tenant)
            self._blocks[tenant] = numbers[1:]
        return format_tracking_number(numbers[0])

    def _reserve(self, tenant: str) -> range:
        """The next block of the tenant's counter. A tenant's first block starts after the last
        number its counter aggregate issued, from before numbers came from this table."""
        size = self._next_size(tenant)
        first_last = self._issued_before(tenant) + size  # the row's first value, if it has none yet
        datastore: PostgresDatastore = self.app.recorder.datastore
        with datastore.transaction(commit=True) as curs:
            if not self._table_made:  # once per process, and one process at a time
                curs.execute("SELECT pg_advisory_xact_lock(hashtext('docket.schema'))")
                curs.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (tenant text PRIMARY KEY, last bigint NOT NULL)")
            curs.execute(
                f"INSERT INTO {TABLE} (tenant, last) VALUES (%s, %s) "
                f"ON CONFLICT (tenant) DO UPDATE SET last = {TABLE}.last + %s RETURNING last",
                (tenant, first_last, size),
            )
            last = curs.fetchone()["last"]
        self._table_made = True
        self._sizes[tenant] = (size, time.monotonic())
        return range(last - size + 1, last + 1)

    def _next_size(self, tenant: str) -> int:
        size, reserved_at = self._sizes.get(tenant, (0, 0.0))
        if size and time.monotonic() - reserved_at < BUSY:
            return min(size * 2, max(MAX_BLOCK, self.block))
        return self.block

    def _issued_before(self, tenant: str) -> int:
        if tenant in self._blocks:  # the tenant has its row already
            return 0
        try:
            return self.app.repository.get(TrackingNumbers.create_id(tenant)).last
        except AggregateNotFoundError:
            return 0
