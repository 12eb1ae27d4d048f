"""The API's reads keep their connections from one read to the next (projections/reading.Lease):
a read that fails or is cut short must not leave the next one a connection in a bad state, and
no more reads than the pool holds run at once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from domain.errors import TicketNotFound
from projections.reading import Reads


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
