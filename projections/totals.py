"""A list's total, counted once for as long as the tickets read model stays as it was.

Counting what a list selects reads every row of it (a tenant's 3,000 tickets for its first page of
20): most of what a list page costs PostgreSQL. The tickets projection records its position in the
transaction that changes the rows, so a total counted when the position was P holds for every
read that sees P. A page's statement reads the position beside its rows, in one snapshot; when a
total of the same list, for the same reader, was counted at that position, it is the page's total.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from eventsourcing.application import LRUCache
from sqlalchemy import column, func, select, table

# The tickets projection's position, as a column a statement selects beside its own.
POSITION = select(func.max(column("notification_id"))).select_from(table("tickets_tracking")).scalar_subquery().label("position")
SIZE = 4096  # lists (shape, values, reader) remembered per process


class Totals:
    def __init__(self, size: int = SIZE) -> None:
        self._totals: LRUCache[Hashable, tuple[int, int]] = LRUCache(maxsize=size)  # key -> (position, total)

    def get(self, key: Hashable, position: int | None) -> int | None:
        """The total counted at this position, if there is one."""
        try:
            counted_at, total = self._totals.get(key)
        except KeyError:
            return None
        return total if position is not None and counted_at == position else None

    def put(self, key: Hashable, position: int | None, total: int) -> None:
        if position is not None:  # nothing projected yet: nothing to tell a later count by
            self._totals.put(key, (position, total))


def frozen(values: dict[str, Any]) -> Hashable:
    """A list's parameters as a key: lists become tuples."""
    return tuple(sorted((name, tuple(value) if isinstance(value, list) else value) for name, value in values.items()))


TOTALS = Totals()  # this process's, for every list of the tickets projection's rows: lists, histories, conversations
