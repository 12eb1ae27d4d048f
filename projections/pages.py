"""One page of what a query selects, with the total it selects: every list answers this way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, func

from domain.errors import Invalid
from projections.reading import Connectable
from projections.row_security import reading_as
from projections.sql import Prepared
from projections.totals import POSITION, Totals, frozen

T = TypeVar("T")
# Given a statement's column names, what makes an item of one of its rows (a tuple).
ItemMaker = Callable[[tuple[str, ...]], Callable[[Sequence[Any]], T]]
# PostgreSQL's OFFSET is a bigint: a page past it is refused rather than sent to fail there.
MAX_OFFSET = 2**63 - 1
MAX_PAGE = 10**9  # far beyond any list, and with any page size still an offset PostgreSQL takes


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    total: int
    page: int
    page_size: int
    page_count: int


def check_page(page: int, page_size: int) -> None:
    if not 1 <= page <= MAX_PAGE or (page - 1) * page_size > MAX_OFFSET:
        raise Invalid(f"page must be from 1 to {MAX_PAGE}.", code="invalid_input", field="page")
    if page_size < 1:
        raise Invalid("page_size must be at least 1.", code="invalid_input", field="page_size")


def fetch_page(engine: Connectable, query: Select, order: list[Any], page: int, page_size: int, item: Callable[[Any], T]) -> Page[T]:
    check_page(page, page_size)
    # The query's own FROM and WHERE counted, not its columns: every list is a plain filtered select.
    count = query.with_only_columns(func.count(), maintain_column_froms=True)
    rows_query = query.order_by(*order).limit(page_size).offset((page - 1) * page_size)
    with engine.connect() as conn:
        total = conn.execute(count).scalar_one()
        rows = conn.execute(rows_query).mappings().all()
    return Page(items=[item(row) for row in rows], total=total, page=page, page_size=page_size, page_count=-(-total // page_size))


def prepared_statements(query: Select, order: list[Any]) -> tuple[Prepared, Prepared]:
    """What fetch_prepared_page takes for a query of the tickets projection's tables, compiled
    once: the total's statement and the rows', both selecting the projection's position too."""
    count = query.with_only_columns(func.count().label("total"), POSITION, maintain_column_froms=True)
    return Prepared(count), Prepared(query.add_columns(POSITION).order_by(*order))


def fetch_prepared_page(
    engine: Connectable,
    count: Prepared,
    rows: Prepared,
    values: dict[str, Any],
    page: int,
    page_size: int,
    items: ItemMaker[T],
    totals: Totals | None,
) -> Page[T]:
    """As fetch_page, with statements compiled once: the total's, and the rows' (a page of them),
    whose items are made from the rows as the driver gives them (`items`; `by_name` for a maker
    that reads a row by its columns' names). Both statements select the tickets projection's
    position too: a total counted at the position the page's rows were read at is taken from
    `totals` (projections/totals.py), not counted again (None: a list whose total moves with the
    clock, counted every time)."""
    check_page(page, page_size)
    key = (reading_as.get(), count.sql, frozen(values))
    with engine.connect() as conn:
        names, found = rows.page(page_size, (page - 1) * page_size).rows(conn, **values)
        total = totals.get(key, found[0][names.index("position")]) if totals is not None and found else None
        if total is None:
            counted = count.first(conn, **values)
            assert counted is not None  # a count has a row
            total = counted["total"]
            if totals is not None:
                totals.put(key, counted["position"], total)
    item = items(names)
    return Page(items=[item(row) for row in found], total=total, page=page, page_size=page_size, page_count=-(-total // page_size))


def by_name(item: Callable[[dict[str, Any]], T]) -> ItemMaker[T]:
    """A maker of items from rows read by their columns' names."""

    def maker(names: tuple[str, ...]) -> Callable[[Sequence[Any]], T]:
        return lambda row: item(dict(zip(names, row, strict=True)))

    return maker
