"""A batch's rows reach PostgreSQL as they were made, whether written new (COPY) or changed
(UPDATE): text with a NUL, which PostgreSQL cannot hold, with U+FFFD in its place, in plain
columns, arrays and JSON alike; every other row as it is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy import ARRAY, Column, DateTime, Integer, MetaData, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from projections.rows import RowWriter

ROWS = Table(
    "row_writer_probe",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("title", Text),
    Column("tags", ARRAY(Text)),
    Column("fields", JSONB),
    Column("count", Integer),
    Column("at", DateTime(timezone=True)),
)


@pytest.fixture
def curs(database_url):
    with psycopg.connect(database_url, row_factory=dict_row) as conn, conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE row_writer_probe (id uuid PRIMARY KEY, title text, tags text[], fields jsonb, count integer, at timestamptz)"
        )
        yield cursor


def stored(curs) -> dict:
    return {row["id"]: row for row in curs.execute("SELECT * FROM row_writer_probe").fetchall()}


AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CLEAN = {"title": "Leak", "tags": ["water", "street"], "fields": {"n": 1, "text": "ok"}, "count": 2, "at": AT}
POISONED = {"title": "Bad\x00title", "tags": ["a\x00b"], "fields": {"k": "v\x00", "list": ["x\x00"]}, "count": 3, "at": AT}
MENDED = {"title": "Bad\ufffdtitle", "tags": ["a\ufffdb"], "fields": {"k": "v\ufffd", "list": ["x\ufffd"]}, "count": 3, "at": AT}


@pytest.mark.parametrize(("written", "expected"), [(CLEAN, CLEAN), (POISONED, MENDED)], ids=["clean", "with-nul"])
def test_new_rows_and_changed_rows_are_stored_as_made(curs, written, expected):
    new, changed = uuid.uuid4(), uuid.uuid4()
    rows = RowWriter(curs)
    rows.add(ROWS, {"id": new, **written})
    rows.add(ROWS, {"id": changed, "title": "before", "tags": [], "fields": {}, "count": 0})
    rows.flush()  # COPY
    rows = RowWriter(curs)
    rows.load(ROWS, [changed])
    rows.change(ROWS, changed, written)
    rows.flush()  # UPDATE
    assert stored(curs) == {new: {"id": new, **expected}, changed: {"id": changed, **expected}}


def test_text_that_only_spells_a_nul_escape_is_stored_as_it_is(curs):
    spelled = {"title": "C:\\u0000", "tags": ["\\u0000"], "fields": {"path": "\\u0000"}, "count": 1, "at": AT}
    key = uuid.uuid4()
    rows = RowWriter(curs)
    rows.add(ROWS, {"id": key, **spelled})
    rows.flush()
    assert stored(curs) == {key: {"id": key, **spelled}}
