"""What one batch of events does to a projection's tables, gathered in memory and written once.

Applied one statement at a time, a projection spent most of its time waiting for PostgreSQL: a
round trip per row inserted, updated or read. A batch's handlers instead read and change rows in
memory (each row read once, with the rest of the batch's rows, in one query), and `flush` writes
them: the new rows with one COPY per table, the changed rows with one UPDATE per table sent as one
pipeline. The caller records the tracking position after the flush, in the same transaction.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import Cursor
from psycopg.sql import SQL, Composable, Identifier, Placeholder
from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Executable

from projections.sql import execute, storable

Row = dict[str, Any]
PLAIN = frozenset({type(None), bool, int, float, UUID, datetime})  # what holds no text: written as it is


class RowWriter:
    def __init__(self, curs: Cursor[Any]) -> None:
        self.curs = curs
        self._appended: dict[str, tuple[Table, list[Row]]] = {}  # rows no later event of the batch reads
        self._rows: dict[str, dict[Any, Row | None]] = {}  # table -> key -> the row as the batch left it
        self._new: dict[str, set[Any]] = {}
        self._changed: dict[str, set[Any]] = {}
        self._tables: dict[str, Table] = {}

    def append(self, table: Table, row: Mapping[str, Any]) -> None:
        """A new row that no later event of the batch reads or changes (a history entry, a reply)."""
        self._appended.setdefault(table.name, (table, []))[1].append(dict(row))

    def add(self, table: Table, row: Mapping[str, Any]) -> None:
        """A new row that later events of the batch may read and change."""
        key = _key_of(table, row)
        self._known(table)[key] = dict(row)
        self._new[table.name].add(key)

    def load(self, table: Table, keys: Iterable[Any]) -> None:
        """Reads the rows with these keys in one query (keys with no row are remembered as such).
        A key is the primary key's value, or the tuple of its values when it has several columns."""
        known = self._known(table)
        wanted = [key for key in set(keys) if key not in known]
        if not wanted:
            return
        known.update(dict.fromkeys(wanted))
        key_columns = _key_columns(table)
        params = (wanted,) if len(key_columns) == 1 else tuple(map(list, zip(*wanted, strict=True)))
        for row in self.curs.execute(_select_by_keys(table), params).fetchall():
            known[_key_of(table, row)] = dict(row)

    def row(self, table: Table, key: Any) -> Row | None:
        """The row as the batch has left it so far; None when there is none."""
        if key not in self._known(table):
            self.load(table, [key])
        return self._rows[table.name][key]

    def change(self, table: Table, key: Any, values: Mapping[str, Any]) -> None:
        """Sets values on the row with this key; like an UPDATE, changes nothing when there is none."""
        row = self.row(table, key)
        if row is None:
            return
        row.update(values)
        if key not in self._new[table.name]:
            self._changed[table.name].add(key)

    def execute(self, statement: Executable) -> Cursor[Any]:
        """A statement that cannot be kept in memory (an UPDATE of many rows, an upsert): what the
        batch gathered so far is written first, so the statement sees it."""
        self.flush()
        return execute(self.curs, statement)

    def flush(self) -> None:
        for table, rows in self._appended.values():
            self._copy(table, rows)
        for name, keys in self._new.items():
            self._copy(self._tables[name], [self._rows[name][key] for key in keys])
        for name, keys in self._changed.items():
            self._update(self._tables[name], [self._rows[name][key] for key in keys])
        self._appended.clear()
        self._new = {name: set() for name in self._new}
        self._changed = {name: set() for name in self._changed}

    def _known(self, table: Table) -> dict[Any, Row | None]:
        if table.name not in self._rows:
            self._tables[table.name] = table
            self._rows[table.name], self._new[table.name], self._changed[table.name] = {}, set(), set()
        return self._rows[table.name]

    def _copy(self, table: Table, rows: list[Row]) -> None:
        if not rows:
            return
        columns = _writable(table)
        statement = SQL("COPY {} ({}) FROM STDIN").format(Identifier(table.name), _names(columns))
        cells = _copy_cells(table)
        with self.curs.copy(statement) as copy:
            for row in rows:
                copy.write_row(cells(row))

    def _update(self, table: Table, rows: list[Row]) -> None:
        if not rows:
            return
        keys = _key_columns(table)
        columns = tuple(c for c in _writable(table) if c not in keys)
        assigned = SQL(", ").join(SQL("{} = {}").format(Identifier(c), Placeholder()) for c in columns)
        matched = SQL(" AND ").join(SQL("{} = {}").format(Identifier(c), Placeholder()) for c in keys)
        statement = SQL("UPDATE {} SET {} WHERE {}").format(Identifier(table.name), assigned, matched)
        self.curs.executemany(statement, list(map(_update_params(table, columns, keys), rows)))


@functools.cache
def _copy_cells(table: Table) -> Callable[[Row], list[Any]]:
    """The cells of a row as COPY writes them (_copy_cell), made for one table. Most rows hold no
    NUL: their cells are taken as they are in one step, their JSON written, and one encoding of the
    whole row finds whether any text holds a NUL after all, in which case each cell is made
    storable. (Cell by cell, this was most of what a rebuild's writes cost it.)"""
    columns = _writable(table)
    json_columns = _json_columns(table)
    json_at = [i for i, c in enumerate(columns) if c in json_columns]
    take = _values_of(columns)

    def cells(row: Row) -> list[Any]:
        values = take(row)
        for i in json_at:
            values[i] = _copy_cell(values[i], True)
        return values if _clean(values) else [_copy_cell(row.get(c), c in json_columns) for c in columns]

    return cells


@functools.cache
def _update_params(table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Callable[[Row], list[Any]]:
    """An UPDATE's parameters for a row: its columns' values (_param), then its key's; made in one
    step unless some text of the row holds a NUL, as _copy_cells does."""
    json_columns = _json_columns(table)
    json_at = [i for i, c in enumerate(columns) if c in json_columns]
    take = _values_of(columns)

    def params(row: Row) -> list[Any]:
        values = take(row)
        if _clean(values):
            for i in json_at:
                values[i] = Jsonb(values[i])
        else:
            values = [_param(row.get(c), c in json_columns) for c in columns]
        return [*values, *(row[c] for c in keys)]

    return params


def _values_of(columns: tuple[str, ...]) -> Callable[[Row], list[Any]]:
    """A row's values of these columns, in their order (None for a column the row lacks), in one step."""
    blank = dict.fromkeys(columns)
    take = operator.itemgetter(*columns)
    if len(columns) == 1:
        return lambda row: [take({**blank, **row})]
    return lambda row: list(take({**blank, **row}))


def _clean(values: list[Any]) -> bool:
    """No text among the values, however deep, holds a NUL (and msgspec could write them all)."""
    try:
        return b"\\u0000" not in msgspec.json.encode(values)
    except (TypeError, msgspec.EncodeError):
        return False


def _copy_cell(value: Any, is_json: bool) -> Any:
    """A value as COPY writes it, storable; JSON as its text, which PostgreSQL parses into jsonb."""
    if type(value) in PLAIN:
        return value
    if not is_json:
        return storable(value)
    text = msgspec.json.encode(value)
    if b"\\u0000" in text:
        text = msgspec.json.encode(storable(value))
    return text.decode()


def _param(value: Any, is_json: bool) -> Any:
    """A value as a statement's parameter, storable; JSON wrapped as jsonb."""
    if type(value) in PLAIN:
        return value
    return Jsonb(storable(value)) if is_json else storable(value)


@functools.cache
def _key_columns(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def _key_of(table: Table, row: Mapping[str, Any]) -> Any:
    columns = _key_columns(table)
    return row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns)


@functools.cache
def _select_by_keys(table: Table) -> Composable:
    """The rows whose keys are in arrays given as parameters: one array, or one per key column."""
    columns, keys = _writable(table), _key_columns(table)
    if len(keys) == 1:
        matched = SQL("{} = ANY(%s)").format(Identifier(keys[0]))
    else:
        arrays = SQL(", ").join(SQL("%s::{}[]").format(SQL(table.c[k].type.compile(dialect=postgresql.dialect()))) for k in keys)
        matched = SQL("({}) IN (SELECT * FROM unnest({}))").format(_names(keys), arrays)
    return SQL("SELECT {} FROM {} WHERE {}").format(_names(columns), Identifier(table.name), matched)


@functools.cache
def _writable(table: Table) -> tuple[str, ...]:
    """The columns a row is written with: all but those PostgreSQL computes."""
    return tuple(c.name for c in table.columns if c.computed is None)


@functools.cache
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, JSONB))


def _names(columns: tuple[str, ...]) -> Composable:
    return SQL(", ").join(map(Identifier, columns))
