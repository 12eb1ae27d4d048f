"""The API's reads keep their connections from one read to the next (projections/reading.Lease):
a read that fails or is cut short must not leave the next one a connection in a bad state, and
no more reads than the pool holds run at once."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from domain.errors import TicketNotFound
from projections.reading import Reads
from projections.sql import Prepared, kept_cursor

NUMBER = Prepared(select(literal(1).label("n")))
WORDS_AND_TIME = Prepared(select(literal("x").label("s"), func.now().label("t")))


def backend(reading) -> int:
    with reading.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def sleeping(reading, seconds: float, times: int = 1) -> None:
    with reading.connect() as conn:
        for _ in range(times):
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})


def not_found(reading) -> None:
    with reading.connect() as conn:
        conn.execute(text("SELECT 1"))
    raise TicketNotFound("nope")


def run(reads_of, *steps):
    async def main():
        reads = reads_of()
        try:
            return [await step(reads) for step in steps]
        finally:
            await reads.close()

    return asyncio.run(main())


def test_a_read_refused_by_the_domain_keeps_its_connection_and_the_next_read_goes_on(engine):
    async def refused(reads):
        with pytest.raises(TicketNotFound):
            await reads.run(not_found)

    before, _, after = run(lambda: Reads(engine.url, pool_size=1), lambda r: r.run(backend), refused, lambda r: r.run(backend))
    assert before == after


def test_a_read_cut_short_mid_statement_leaves_the_next_read_a_working_connection(engine):
    """A request's bound cancels its read while PostgreSQL is still running its statement: that
    connection is not handed to the next read with the statement still in flight."""

    async def cut_short(reads):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await reads.run(sleeping, 5)

    async def next_read(reads):
        async with asyncio.timeout(2):  # not after the 5 s the cut statement would have run
            return await reads.run(backend)

    before, _, after = run(lambda: Reads(engine.url, pool_size=1), lambda r: r.run(backend), cut_short, next_read)
    assert isinstance(after, int) and after != before  # a fresh session: the cut one was closed


def test_past_the_pool_a_read_waits_its_bound_then_is_refused(engine):
    async def crowded(reads):
        held = asyncio.create_task(reads.run(sleeping, 0.2, 3))  # each statement within the bound, the read past it
        await asyncio.sleep(0.1)  # the one connection is taken
        with pytest.raises(PoolTimeout):
            await reads.run(backend)
        await held

    run(lambda: Reads(engine.url, timeout=0.3, pool_size=1), crowded)


def prepared_reads(reading) -> tuple[object, list]:
    with reading.connect() as conn:
        found = [NUMBER.scalar(conn), WORDS_AND_TIME.first(conn), NUMBER.rows(conn)]
        return kept_cursor(conn), found


def test_prepared_statements_of_any_shape_share_the_connections_one_cursor_each_read_as_its_own_types(engine):
    """The cursor is kept with its connection so that its loaders are made once, not at every run:
    a statement of other column types run on it after another still reads each column right."""
    first, second = run(lambda: Reads(engine.url, pool_size=1), lambda r: r.run(prepared_reads), lambda r: r.run(prepared_reads))
    assert first[0] is second[0]
    for _, (number, row, rows) in (first, second):
        assert (number, row["s"], names_and_rows(rows)) == (1, "x", (("n",), [(1,)]))
        assert isinstance(row["t"], datetime) and row["t"].tzinfo is not None


def names_and_rows(found):
    names, rows = found
    return names, [tuple(row) for row in rows]


def test_after_a_read_cut_short_prepared_statements_run_on_a_cursor_of_the_new_connection(engine):
    async def cut_short(reads):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await reads.run(sleeping, 5)

    before, _, after = run(
        lambda: Reads(engine.url, pool_size=1), lambda r: r.run(prepared_reads), cut_short, lambda r: r.run(prepared_reads)
    )
    assert after[0] is not before[0]
    assert after[1][0] == 1
