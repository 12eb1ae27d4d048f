"""What every projection shares: its rows and its tracking position commit together."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Protocol

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import Cursor
from sqlalchemy import MetaData

log = logging.getLogger(__name__)


class TableSet(Protocol):
    """A projection's tables, named with a suffix so that a rebuild can fill a copy beside the live ones."""

    suffix: str
    metadata: MetaData


class TrackedProjection(Projection[PostgresTrackingRecorder]):
    # Raise the version when the tables or what they hold change: the projector then rebuilds them.
    version: ClassVar[int] = 1

    def __init__(self, view: PostgresTrackingRecorder, tables: TableSet | None = None) -> None:
        super().__init__(view)
        self.tables = tables or self.tables_for("")

    @staticmethod
    def tables_for(suffix: str) -> Any:
        raise NotImplementedError

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Applies one event and records its position in one transaction; an event seen before is skipped."""
        try:
            with self.view.datastore.transaction(commit=True) as curs:
                self.view._insert_tracking(curs, tracking)
                self.apply(domain_event, tracking, curs)
        except IntegrityError:
            log.debug("event %s already applied to %s", tracking.notification_id, self.name)

    def apply_batch(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        """Applies many events inside the caller's transaction and records the last position."""
        for domain_event, tracking in items:
            self.apply(domain_event, tracking, curs)
        if items:
            self.view._insert_tracking(curs, items[-1][1])

    def apply(self, domain_event: Any, tracking: Tracking, curs: Cursor[Any]) -> None:
        raise NotImplementedError
