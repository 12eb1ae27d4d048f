"""What every projection shares: its rows and its tracking position commit together."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.sql import SQL, Identifier
from sqlalchemy import MetaData


class TableSet(Protocol):
    """A projection's tables, named with a suffix so that a rebuild can fill a copy beside the live ones."""

    suffix: str
    metadata: MetaData


class TrackedProjection(Projection[PostgresTrackingRecorder]):
    # Raise the version when the tables or what they hold change: the projector then rebuilds them.
    version: ClassVar[int] = 1
    # Topics whose events change only their own aggregate's rows: a rebuild may share them out
    # by aggregate among processes (projections/shares.py).
    shared_topics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, view: PostgresTrackingRecorder, tables: TableSet | None = None) -> None:
        super().__init__(view)
        self.tables = tables or self.tables_for("")

    @staticmethod
    def tables_for(suffix: str) -> Any:
        raise NotImplementedError

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Applies one event and records its position in one transaction (ProjectionLoop applies batches)."""
        with self.view.datastore.transaction(commit=True) as curs:
            self.apply_batch(curs, [(domain_event, tracking)])

    def apply_batch(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        """Applies, inside the caller's transaction, the events after the tracked position, and
        records the last one. The position is read under a row lock, so a batch that overlaps what
        another writer applied meanwhile (a rebuild switching tables over) skips what it applied
        rather than applying it twice; any other error propagates and rolls the batch back."""
        applied = self._tracked_position(curs, items[0][1].application_name) if items else 0
        fresh = [(domain_event, tracking) for domain_event, tracking in items if tracking.notification_id > applied]
        if fresh:
            self.apply_all(curs, fresh)
            self.view._insert_tracking(curs, fresh[-1][1])

    def apply_all(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        """Applies the events one after another on the cursor (a projection may gather them instead).
        Not in a psycopg pipeline: a read after a write there (a team's members after its ticket's
        insert) was answered, under load, with the write's result ("didn't produce records")."""
        apply = self.apply  # looked up once: each lookup of a singledispatchmethod makes a new function
        for domain_event, tracking in items:
            apply(domain_event, tracking, curs)

    def _tracked_position(self, curs: Cursor[Any], application_name: str) -> int:
        table = Identifier(self.view.datastore.schema, self.view.tracking_table_name)
        curs.execute(SQL("SELECT notification_id FROM {} WHERE application_name = %s FOR UPDATE").format(table), (application_name,))
        row = curs.fetchone()
        return row["notification_id"] if row else 0

    def apply(self, domain_event: Any, tracking: Tracking, curs: Cursor[Any]) -> None:
        raise NotImplementedError
