"""A list's total, counted once for as long as the tickets read model stays as it was.

Counting what a list selects reads every row of it (a tenant's 3,000 tickets for its first page of
20): most of what a list page costs PostgreSQL. The tickets projection records its position in the
transaction that changes the rows, so a total counted when the position was P holds for every
read that sees P. A page's statement reads the position beside its rows, in one snapshot; when a
total of the same list, for the same reader, was counted at that position, it is the page's total.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from sqlalchemy import column, func, select, table

# The tickets projection's position, as a column a statement selects beside its own.
POSITION = select(func.max(column("notification_id"))).select_from(table("tickets_tracking")).scalar_subquery().label("position")
SIZE = 4096  # lists (shape, values, reader) remembered per process


class Totals:
    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._totals: OrderedDict[Hashable, tuple[int, int]] = OrderedDict()  # key -> (position, total)
        self._lock = threading.Lock()

    def get(self, key: Hashable, position: int | None) -> int | None:
        """The total counted at this position, if there is one."""
        with self._lock:
            found = self._totals.get(key)
            if found is None or position is None or found[0] != position:
                return None
            self._totals.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, position: int | None, total: int) -> None:
        if position is None:  # nothing projected yet: nothing to tell a later count by
            return
        with self._lock:
            self._totals[key] = (position, total)
            self._totals.move_to_end(key)
            if len(self._totals) > self._size:
                self._totals.popitem(last=False)


def frozen(values: dict[str, Any]) -> Hashable:
    """A list's parameters as a key: lists become tuples."""
    return tuple(sorted((name, tuple(value) if isinstance(value, list) else value) for name, value in values.items()))
