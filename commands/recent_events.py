"""The events a process decoded last, so that its other readers of the same events do not decode
them again.

Under `docket serve` one process holds the tickets, dashboard and audit-chain projections and the
relay: each reads every ticket event, and decoding one (decrypting, parsing its JSON, making its
objects) costs more than the rest of its reading. Stored events never change, and a decoded one
is never changed by its readers (events are frozen; personal fields are opened on a copy), so one
decoding serves them all. What is kept is the event as stored: personal fields still sealed, so
an erased ticket's data is not kept here in the clear.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import LRUCache

# About as many events as the slowest reader in a process trails the fastest by under load.
SIZE = 4096

Key = tuple[UUID, int, str]  # aggregate, version, topic


class RecentEvents:
    def __init__(self, size: int = SIZE) -> None:
        """size 0: none kept (a rebuild's worker, the one reader of each event it decodes)."""
        self._events: LRUCache[Key, Any] | None = LRUCache(maxsize=size) if size else None  # eventsourcing's, as for its aggregates

    def get(self, key: Key, decode: Callable[[], Any]) -> Any:
        """The event of this key, decoded now unless it was recently."""
        if self._events is None:
            return decode()
        try:
            return self._events.get(key)
        except KeyError:
            found = decode()  # unlocked: readers in other threads decode beside this one
            self._events.put(key, found)
            return found
