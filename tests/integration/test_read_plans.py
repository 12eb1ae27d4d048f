"""What a read costs PostgreSQL: a list page's statement is planned once per connection, not at
every read; jsonb comes back as the standard library read it, faster."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from psycopg.rows import dict_row
from sqlalchemy.engine import Connection, Engine

from domain.permissions import Actor, Role, list_scope
from projections.operations import ensure_tables
from projections.reading import Reading
from projections.row_security import ROLE, Reader, read_as, reading_as, secure_table
from projections.search import create_search_function, search
from projections.sql import DIALECT
from projections.ticket_lists import TicketFilters, filter_shape, list_tickets, listed, scope_shape, scope_values
from projections.ticket_tables import LIVE

TICKETS = 3000  # enough that a page of 20 is a small part of the tenant's tickets, as in a real one
SCHEMA = "plan_probe"


@pytest.fixture
def probe(app, engine: Engine) -> Iterator[Connection]:
    """A connection whose `tickets` table (in a schema of its own, beside the suite's) holds one
    tenant's many tickets, as the planner sees them after ANALYZE."""
    ensure_tables(app.recorder.datastore)  # the live tables, whose shape the probe's copy
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
        for table in ("tickets", "tickets_tracking"):
            conn.exec_driver_sql(f"CREATE TABLE {SCHEMA}.{table} (LIKE public.{table} INCLUDING ALL)")
        conn.exec_driver_sql(
            f"INSERT INTO {SCHEMA}.tickets (id, tenant, tracking_number, workflow, workflow_version, status, status_category,"
            " title, description, category, priority, reporter_id, accepted, tags, watchers, custom_fields, is_sensitive,"
            " archived, reply_count, internal_note_count, attachment_count, reopen_count, response_breached,"
            " resolution_breached, escalation_level, created_at, updated_at, version)"
            " SELECT gen_random_uuid(), 'planned', 'TKT-' || n, 'municipal', 1, 'open', 'open', 'Leak ' || n, 'Water',"
            " 'water', 'medium', 'resident', false, '{}', '{}', jsonb_build_object('n', n), false, false, 0, 0, 0, 0,"
            " false, false, 0, now() - n * interval '1 minute', now(), 1"
            f" FROM generate_series(1, {TICKETS}) AS n"
        )
        conn.exec_driver_sql(f"INSERT INTO {SCHEMA}.tickets_tracking (application_name, notification_id) VALUES ('docket', 1)")
        conn.exec_driver_sql(f"ANALYZE {SCHEMA}.tickets")
        conn.commit()
        conn.exec_driver_sql(f"SET search_path TO {SCHEMA}")
        try:
            yield conn
        finally:
            conn.rollback()
            conn.exec_driver_sql("RESET search_path")
            conn.exec_driver_sql(f"DROP SCHEMA {SCHEMA} CASCADE")
            conn.commit()


def test_a_list_page_is_planned_once_per_connection_not_at_every_read(probe):
    manager = Actor(id="manager", tenant="planned", role=Role.MANAGER)
    reading = Reading(probe)
    pages = [list_tickets(reading, manager, TicketFilters(), 2, 20) for _ in range(15)]
    plans = probe.exec_driver_sql(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %(page)s",
        {"page": "%ORDER BY tickets.created_at DESC, tickets.id DESC%"},
    ).all()
    # psycopg prepares the statement at its 5th run, PostgreSQL plans it afresh for its first 5
    # runs as prepared, then keeps a generic plan when that is no dearer: with LIMIT and OFFSET as
    # parameters it looked dearer, and every read was planned afresh.
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    assert generic >= 4 and custom <= 6, plans[0]
    first = pages[0]
    assert first.total == TICKETS and first.page == 2
    assert [t.tracking_number for t in first.items] == [f"TKT-{n}" for n in range(21, 41)]  # newest first: page 2
    assert all(page == first for page in pages)
    assert first.items[0].custom_fields == {"n": 21}


def test_jsonb_reads_as_the_standard_library_read_it_even_past_a_float(engine):
    # jsonb keeps any numeric: one with a fraction and 401 digits is more than a float holds,
    # which msgspec refuses and the standard library reads as infinity.
    with engine.connect() as conn:
        value = conn.exec_driver_sql(
            """SELECT jsonb_build_object('big', 1e400::numeric + 0.5, 'text', 'é\u00e9', 'list', '[1, 2.5, null, true]'::jsonb)"""
        ).scalar()
    assert value == {"big": math.inf, "text": "éé", "list": [1, 2.5, None, True]}


def test_a_search_as_a_caller_reads_what_the_indexes_find_not_the_whole_tenant(probe):
    """Under the row policy, `@@` and ILIKE wait until after it (they are not leakproof): a search
    would read every ticket of the tenant. Narrowed by docket_ticket_matches, the tickets read are
    those its ids name, through the primary key."""
    raw = probe.connection.dbapi_connection
    assert raw is not None
    with raw.cursor(row_factory=dict_row) as curs:
        curs.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ROLE}")
        secure_table(curs, LIVE.tickets)  # the probe's `tickets`, first on the search path
        create_search_function(curs, SCHEMA)
    manager = Actor(id="manager", tenant="planned", role=Role.MANAGER)
    filters = TicketFilters(q="TKT-77")
    scope = list_scope(manager, False)
    found = search(filters.q)
    assert found is not None
    query = listed(scope_shape(scope), filter_shape(filters)).where(found.where).params(**scope_values(scope))
    compiled = query.compile(dialect=DIALECT)
    token = reading_as.set(Reader.of(manager))
    try:
        reading = Reading(probe)
        with reading.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
            page = list_tickets(reading, manager, filters, 1, 20)
    finally:
        reading_as.reset(token)
        read_as(probe, None, session=True)
    assert "docket_ticket_matches" in plan and "tickets_pkey" in plan, plan
    assert "Seq Scan on tickets" not in plan, plan
    assert sorted(t.tracking_number for t in page.items) == ["TKT-77", *(f"TKT-77{n}" for n in range(10))]
