"""Row-level security: a query that forgets its filter, run as the API runs it for a caller,
returns none of another tenant's rows, no ticket of a kind the caller is not cleared for, and to a
reporter none but their own."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from sqlalchemy import select, text

from commands.structs import OpenTicket
from commands.tickets import open_ticket
from domain.permissions import Actor, Role
from projections.reading import Reads
from projections.row_security import Reader, as_docket, enforce_on, reading_as
from projections.sql import create_tables
from projections.ticket_tables import LIVE


def open_in(app, tenant: str, reporter: str, sensitive: bool) -> str:
    actor = Actor(id=reporter, tenant=tenant, role=Role.REPORTER)
    command = OpenTicket(actor=actor, title="Leak", description="Water", category="water", is_sensitive=sensitive)
    return str(open_ticket(app, command).id)


def unfiltered(engine, reader: Reader | None, table=LIVE.tickets) -> set[str]:
    """Every row's ticket id the query sees, with no WHERE at all."""
    token = reading_as.set(reader)
    try:
        with engine.connect() as conn:
            column = table.c.id if table is LIVE.tickets else table.c.ticket_id
            return {str(value) for value in conn.execute(select(column)).scalars()}
    finally:
        reading_as.reset(token)


def test_an_unfiltered_query_as_a_caller_sees_only_their_rows(app, engine, client, projected):
    mine, theirs = f"r{uuid.uuid4().hex[:10]}", f"r{uuid.uuid4().hex[:10]}"
    ordinary, sensitive = open_in(app, mine, "cit-1", False), open_in(app, mine, "cit-2", True)
    other = open_in(app, theirs, "cit-1", False)
    projected()
    manager = Reader.of(Actor(id="m", tenant=mine, role=Role.MANAGER))
    liaison = Reader.of(Actor(id="l", tenant=mine, role=Role.LIAISON))
    admin = Reader.of(Actor(id="a", tenant=mine, role=Role.ADMIN))
    reporter = Reader.of(Actor(id="cit-2", tenant=mine, role=Role.REPORTER))
    assert unfiltered(engine, manager) == {ordinary}
    assert unfiltered(engine, liaison) == {sensitive}
    assert unfiltered(engine, admin) == {ordinary, sensitive}
    assert unfiltered(engine, reporter) == {sensitive}
    assert unfiltered(engine, manager, LIVE.history) == {ordinary, sensitive}  # its tenant's history; the API checks the ticket first
    with as_docket():
        assert {ordinary, sensitive, other} <= unfiltered(engine, None)  # the service's own questions see every tenant


def test_the_search_narrowing_answers_a_caller_for_their_own_tenant_whatever_it_is_asked(app, engine, projected):
    """docket_ticket_matches runs as the tables' owner, past the row policy: called as the API's
    role with another tenant's name, it still finds in the caller's tenant alone."""
    mine, theirs = f"r{uuid.uuid4().hex[:10]}", f"r{uuid.uuid4().hex[:10]}"
    own, other = open_in(app, mine, "cit-1", False), open_in(app, theirs, "cit-1", False)
    projected()
    enforce_on(engine)  # as the API's engine: each transaction reads as the caller set

    def matches(reader: Reader | None, tenant: str) -> set[str]:
        token = reading_as.set(reader)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    text("SELECT docket_ticket_matches(:tenant, to_tsquery('simple', 'leak:*'), '%leak%')"), {"tenant": tenant}
                )
                return {str(ticket) for ticket in found.scalars()}
        finally:
            reading_as.reset(token)

    caller = Reader(tenant=mine, sensitive=False, ordinary=True)
    assert own in matches(caller, mine)
    assert matches(caller, theirs) == matches(caller, mine) and other not in matches(caller, theirs)
    with as_docket():
        assert other in matches(None, theirs) and own not in matches(None, theirs)  # the service asks for the tenant it names


def test_the_api_reads_as_its_own_role_and_the_projector_as_the_owner(app, engine):
    token = reading_as.set(Reader(tenant="t", sensitive=False, ordinary=True))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == "docket_api"
            assert conn.execute(text("SELECT current_setting('docket.tenant')")).scalar() == "t"
    finally:
        reading_as.reset(token)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() != "docket_api"
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT relrowsecurity FROM pg_class WHERE relname = 'tickets'")
        assert curs.fetchone()["relrowsecurity"] is True


def test_a_requests_one_connection_reads_as_whoever_each_query_is_for(app, engine):
    """The API lends a request one connection (projections/reading.py): each query on it reads as
    the caller, or as Docket inside as_docket(), and an inner query's switch does not outlast it."""

    def who(conn) -> str:
        return conn.execute(text("SELECT current_user")).scalar()

    def queries(reading) -> list[str]:
        seen = []
        with reading.connect() as outer:
            seen.append(who(outer))
            with as_docket(), reading.connect() as inner:
                seen.append(who(inner))
            seen.append(who(outer))
        with as_docket(), reading.connect() as conn:
            seen.append(who(conn))
        return seen

    async def read() -> list[str]:
        reads = Reads(engine.url)
        try:
            return await reads.run(queries)
        finally:
            await reads.close()

    token = reading_as.set(Reader(tenant="t", sensitive=False, ordinary=True))
    try:
        caller, docket, caller_again, docket_again = asyncio.run(read())
    finally:
        reading_as.reset(token)
    assert caller == caller_again == "docket_api"
    assert docket == docket_again != "docket_api"


def test_a_pooled_connection_reads_as_each_request_that_borrows_it(engine):
    """Whom a connection reads as outlives the request (reads run in autocommit, set per session):
    the next request on it, whoever it is for, reads as itself."""

    def reading(conn) -> tuple[str, str]:
        with conn.connect() as c:
            return c.execute(text("SELECT current_user, current_setting('docket.tenant', true)")).one()

    async def requests(readers: list[Reader | None]) -> list[tuple[str, str]]:
        reads = Reads(engine.url, pool_size=1)  # one connection: every request borrows the same
        seen = []
        try:
            for reader in readers:
                token = reading_as.set(reader)
                try:
                    seen.append(tuple(await reads.run(reading)))
                finally:
                    reading_as.reset(token)
        finally:
            await reads.close()
        return seen

    one, other = Reader(tenant="t1", sensitive=False, ordinary=True), Reader(tenant="t2", sensitive=False, ordinary=True)
    first, second, same, docket = asyncio.run(requests([one, other, other, None]))
    assert first == ("docket_api", "t1")
    assert second == same == ("docket_api", "t2")
    assert docket[0] != "docket_api"


def test_making_the_tables_again_waits_for_no_process_already_writing_them(app, database_url):
    """Every process makes the tables it needs at start; where the tables, their indexes and their
    policies are in place already it locks nothing, so it waits for no transaction of the processes
    already running (a deadlock between two starting roles was seen once)."""
    with psycopg.connect(database_url) as running:
        running.execute("UPDATE tickets SET title = title WHERE false")  # a writer's lock, held until its transaction ends
        with app.recorder.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL lock_timeout = '2s'")
            create_tables(curs, LIVE.tickets.metadata)
        running.rollback()
