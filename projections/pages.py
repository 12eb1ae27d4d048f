"""One page of what a query selects, with the total it selects: every list answers this way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    total: int
    page: int
    page_size: int
    page_count: int


def fetch_page(engine: Engine, query: Select, order: list[Any], page: int, page_size: int, item: Callable[[Any], T]) -> Page[T]:
    count = select(func.count()).select_from(query.subquery())
    rows_query = query.order_by(*order).limit(page_size).offset((page - 1) * page_size)
    with engine.connect() as conn:
        total = conn.execute(count).scalar_one()
        rows = conn.execute(rows_query).mappings().all()
    return Page(items=[item(row) for row in rows], total=total, page=page, page_size=page_size, page_count=-(-total // page_size))
