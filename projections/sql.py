"""Runs SQLAlchemy Core statements on the psycopg cursor of an eventsourcing transaction,
so a projection's rows and its tracking position commit together."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from sqlalchemy import MetaData, create_engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql import Executable

DIALECT = postgresql.psycopg.dialect()


def execute(curs: Cursor[Any], statement: Executable) -> None:
    compiled = statement.compile(dialect=DIALECT)
    curs.execute(str(compiled), compiled.params)


def engine_for(database_url: str, pool_size: int = 5) -> Engine:
    """A SQLAlchemy engine on the psycopg 3 driver for a plain postgresql:// URL."""
    url = make_url(database_url).set(drivername="postgresql+psycopg")
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


def create_tables(curs: Cursor[Any], metadata: MetaData) -> None:
    """Creates missing tables and indexes; an advisory lock keeps concurrent starters from racing."""
    curs.execute("SELECT pg_advisory_xact_lock(hashtext('docket.schema'))")
    for table in metadata.sorted_tables:
        execute(curs, CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            execute(curs, CreateIndex(index, if_not_exists=True))


def drop_tables(curs: Cursor[Any], metadata: MetaData) -> None:
    for table in reversed(metadata.sorted_tables):
        execute(curs, DropTable(table, if_exists=True))
