"""Runs SQLAlchemy Core statements on the psycopg cursor of an eventsourcing transaction,
so a projection's rows and its tracking position commit together."""

from __future__ import annotations

import copy
import functools
import inspect
import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
import psycopg
from psycopg import Cursor
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb, set_json_loads
from sqlalchemy import Index, MetaData, create_engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql import Executable
from sqlalchemy.util import await_only

from commands.persistence import connection_bounds
from projections.row_security import secure_table

log = logging.getLogger(__name__)

DIALECT = postgresql.psycopg.dialect()
S = TypeVar("S", bound=msgspec.Struct)


def load_json(data: bytes) -> Any:
    """A json or jsonb value as Python, by msgspec: several times faster than the standard library
    that psycopg uses unless told (a list page holds a few dozen). A number too large for a float,
    which jsonb holds and msgspec refuses, is read by the standard library, as before."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


set_json_loads(load_json)  # for every psycopg connection of the process, the API's and the projections'


def execute(curs: Cursor[Any], statement: Executable) -> Cursor[Any]:
    sql, params = compiled(statement)
    return curs.execute(sql, storable(params))


_compiled: dict[Any, tuple[Any, str]] = {}


def compiled(statement: Executable) -> tuple[str, Mapping[str, Any]]:
    """The SQL and parameters of a statement. Compiling is most of what a projection's handler
    costs, so each shape of statement is compiled once, keyed and filled as SQLAlchemy's own
    statement cache does (a statement that cannot be keyed is compiled every time)."""
    key = statement._generate_cache_key()
    if key is None:
        fresh = statement.compile(dialect=DIALECT)
        return str(fresh), fresh.params
    if (found := _compiled.get(key.key)) is None:
        fresh = statement.compile(dialect=DIALECT, cache_key=key)
        found = _compiled.setdefault(key.key, (fresh, str(fresh)))
    return found[1], found[0].construct_params(extracted_parameters=key.bindparams)


class Prepared:
    """A statement of fixed shape, compiled once; its `bindparam`s are given at each run. Run as
    driver SQL: none of SQLAlchemy's keying and cache lookup per execution, which on a read of
    one row costs more than the row (and psycopg prepares it on the server after a few runs)."""

    def __init__(self, statement: Executable) -> None:
        fresh = statement.compile(dialect=DIALECT)
        self.sql = str(fresh)
        self.defaults = fresh.params  # the literals SQLAlchemy made parameters of, and the bindparams, None
        self.names: tuple[str, ...] | None = None

    def page(self, limit: int, offset: int) -> Prepared:
        """The statement with LIMIT and OFFSET written in as numbers. Given as parameters, they hide
        from PostgreSQL how few rows a page wants: its generic plan then looks far dearer than
        planning each run afresh, which it does at every run (most of what a list page cost it).
        Written in, a page size and offset in use is planned once per connection, as prepared."""
        return _page_of(self, int(limit), int(offset))

    def run(self, conn: Connection, **params: Any) -> CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, {**self.defaults, **params})

    # The rows straight off the driver's cursor, without SQLAlchemy's result layer (a sixth of what a
    # one-ticket read cost): the columns here need none of its conversions.

    def rows(self, conn: Connection, **params: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """The column names and the rows as the driver gives them, tuples."""
        cursor = self._executed(conn, params)
        return self._names(cursor), _driver_call(conn, cursor.fetchall)

    def first(self, conn: Connection, **params: Any) -> dict[str, Any] | None:
        cursor = self._executed(conn, params)
        row = _driver_call(conn, cursor.fetchone)
        return None if row is None else dict(zip(self._names(cursor), row, strict=True))

    def _names(self, cursor: Any) -> tuple[str, ...]:
        """The statement's column names, read off its first result: a description is an object per
        column, made afresh at every look."""
        if self.names is None:
            self.names = tuple(column[0] for column in cursor.description)
        return self.names

    def scalar(self, conn: Connection, **params: Any) -> Any:
        cursor = self._executed(conn, params)
        return _driver_call(conn, cursor.fetchone)[0]

    def _executed(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The connection's kept cursor, the statement run on it."""
        cursor = kept_cursor(conn)
        _driver_call(conn, cursor.execute, self.sql, {**self.defaults, **params})
        return cursor


KEPT_CURSOR = "docket.cursor"


def kept_cursor(conn: Connection) -> Any:
    """One psycopg cursor per connection, for every prepared statement run on it. A new cursor
    comes with no loaders: each run made one per column of its result (a list page has some sixty),
    as much work as the page's rows; a kept one makes each once. The connection's info goes with
    the connection to the pool and back, and a connection replaced (after an error) gets its own."""
    driver = conn.connection.driver_connection
    kept = conn.info.get(KEPT_CURSOR)
    if kept is None or kept[0] is not driver:
        kept = conn.info[KEPT_CURSOR] = (driver, driver.cursor())
    return kept[1]


def _driver_call(conn: Connection, method: Callable[..., Any], *args: Any) -> Any:
    """method(*args) of a psycopg cursor: awaited where the connection is asyncio's (inside
    SQLAlchemy's greenlet, as the API's reads run). A connection the server dropped leaves the pool,
    as SQLAlchemy would have it."""
    try:
        result = method(*args)
        return await_only(result) if inspect.isawaitable(result) else result
    except (psycopg.OperationalError, psycopg.InterfaceError):
        conn.invalidate()
        raise


@functools.lru_cache(maxsize=256)  # the page sizes and offsets in use, of the statements in use
def _page_of(statement: Prepared, limit: int, offset: int) -> Prepared:
    page = copy.copy(statement)
    page.sql = f"{statement.sql} LIMIT {limit} OFFSET {offset}"
    return page


def storable(value: Any) -> Any:
    """The value with every text made storable in PostgreSQL text and jsonb, the same way each time.

    The API refuses such text, but events stored before it did still carry it; a projection must
    never fail on an event's content, and a rebuild must give the tables the live projection built.
    (Exact types, not isinstance: this runs for every value of every row a projection writes.)
    """
    kind = type(value)
    if kind is str:
        return storable_text(value) if "\x00" in value else value
    if kind is dict:
        return {storable(k): storable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return kind(storable(v) for v in value)
    if kind is Jsonb:
        return Jsonb(storable(value.obj))
    if isinstance(value, str):  # a str subclass, such as a StrEnum member
        return storable_text(str(value)) if "\x00" in value else value
    return value


def storable_text(text: str) -> str:
    """NUL, which PostgreSQL text and jsonb cannot hold, becomes U+FFFD. (An unpaired surrogate
    never reaches a stored event: the event store cannot encode it.)"""
    return text.replace("\x00", "\ufffd")


def struct_from(kind: type[S], row: Mapping[str, Any], **overrides: Any) -> S:
    """The struct of a row: the columns it names, some of them replaced; msgspec checks the types."""
    fields = {**row, **overrides}
    if type(next(iter(fields), "")) is not str:  # SQLAlchemy's names: a str subclass, which msgspec does not take for a key
        fields = {str(name): value for name, value in fields.items()}
    return msgspec.convert(fields, kind)


def engine_for(database_url: str, pool_size: int = 5, timeout: float | None = None) -> Engine:
    """A SQLAlchemy engine on the psycopg 3 driver for a plain postgresql:// URL. With a timeout,
    waits for a pooled connection, connecting and each statement end after about that long."""
    url = make_url(database_url).set(drivername="postgresql+psycopg")
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, **bounded(timeout))


def bounded(timeout: float | None) -> dict[str, Any]:
    """An engine's arguments that end a wait for a pooled connection, connecting and each statement
    after about timeout seconds; none without one."""
    if timeout is None:
        return {}
    bounds = {**connection_bounds(math.ceil(timeout)), "options": f"-c statement_timeout={int(timeout * 1000)}"}
    return {"pool_timeout": timeout, "connect_args": bounds}


def lock_schema(curs: Cursor[Any], *, shared: bool = False) -> None:
    """Until the transaction ends, no other process changes the tables' definitions or grants:
    two changes to one table's catalog row at once fail ("tuple concurrently updated"). Shared:
    among changes that do not touch one row twice (indexes built side by side)."""
    curs.execute(f"SELECT pg_advisory_xact_lock{'_shared' if shared else ''}(hashtext('docket.schema'))")


def create_tables(curs: Cursor[Any], metadata: MetaData, *, indexes: bool = True) -> None:
    """Creates missing tables (and their indexes, unless told not to: a bulk load is faster without
    them); the schema's lock keeps concurrent starters from racing."""
    lock_schema(curs)
    for table in metadata.sorted_tables:
        execute(curs, CreateTable(table, if_not_exists=True))
        secure_table(curs, table)
    if indexes:
        create_indexes(curs, metadata)


def create_indexes(curs: Cursor[Any], metadata: MetaData) -> None:
    for table in metadata.sorted_tables:
        for index in table.indexes:
            create_index(curs, index)


def create_index(curs: Cursor[Any], index: Index) -> None:
    """An index that needs an extension (`info={"extension": ...}`) is made only where the
    extension is, or can be, installed; without it the query it serves still answers, slower.
    One that exists is left alone without asking PostgreSQL to make it: CREATE INDEX IF NOT
    EXISTS locks its table against writers until the transaction ends, even to do nothing."""
    if _exists(curs, index.name):
        return
    extension = index.info.get("extension")
    if extension and not has_extension(curs, extension):
        log.warning("PostgreSQL extension %s is not available: index %s not made; its queries scan instead", extension, index.name)
        return
    execute(curs, CreateIndex(index, if_not_exists=True))


def _exists(curs: Cursor[Any], relation: str | None) -> bool:
    curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (relation,))
    return _truth(curs.fetchone(), "found")


def has_extension(curs: Cursor[Any], name: str) -> bool:
    """Whether the extension is installed in this database, installing it when the server ships it
    and the user may (pg_trgm is trusted: a database owner may). Tried in a savepoint, so that a
    refusal leaves the caller's transaction usable."""
    curs.execute("SELECT installed_version IS NOT NULL AS installed FROM pg_available_extensions WHERE name = %s", (name,))
    row = curs.fetchone()
    if row is None:
        return False
    if _truth(row, "installed"):
        return True
    try:
        with curs.connection.transaction():
            curs.execute(SQL("CREATE EXTENSION IF NOT EXISTS {}").format(Identifier(name)))
    except psycopg.Error as error:
        log.warning("could not install PostgreSQL extension %s: %s", name, error)
        return False
    return True


def _truth(row: Any, column: str) -> bool:
    return bool(row[column] if isinstance(row, Mapping) else row[0])


def drop_tables(curs: Cursor[Any], metadata: MetaData) -> None:
    for table in reversed(metadata.sorted_tables):
        execute(curs, DropTable(table, if_exists=True))
