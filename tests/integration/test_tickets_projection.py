"""The tickets read model: written with its tracking position, idempotent, rebuildable."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from commands.structs import ChangeStatus, OpenTicket
from commands.tickets import change_status, open_ticket
from projections.dashboard import DashboardProjection
from projections.operations import REBUILD_BATCH, ensure_tables, events_after, rebuild, stale_projections, status, tracking_recorder
from projections.shares import RebuildFailed, shares_for
from projections.ticket_tables import LIVE
from projections.tickets import TicketsProjection
from tests.e2e.test_serve import eventually


def read_all(engine):
    with engine.connect() as conn:
        tickets = conn.execute(select(LIVE.tickets).order_by(LIVE.tickets.c.id)).all()
        history = conn.execute(select(LIVE.history).order_by(LIVE.history.c.ticket_id, LIVE.history.c.version)).all()
    return tickets, history


def open_and_work(app, actor, n=3):
    ids = []
    for i in range(n):
        opened = open_ticket(app, OpenTicket(actor=actor("reporter", f"c{i}"), title=f"T{i}", description="d", category="roads", ward="w1"))
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress", note=f"note {i}"))
        ids.append(opened.id)
    return ids


def test_the_projection_keeps_one_row_per_ticket_and_one_per_event(app, actor, engine, projected, tenant):
    ids = open_and_work(app, actor)
    projected()
    with engine.connect() as conn:
        rows = conn.execute(select(LIVE.tickets).where(LIVE.tickets.c.tenant == tenant)).mappings().all()
        events = conn.execute(select(LIVE.history).where(LIVE.history.c.tenant == tenant)).mappings().all()
    assert {r["id"] for r in rows} == set(ids)
    assert {r["status"] for r in rows} == {"in_progress"}
    assert all(r["version"] == 2 for r in rows)
    assert sorted(e["event"] for e in events) == ["Opened"] * 3 + ["StatusChanged"] * 3


def test_an_event_applied_twice_changes_nothing(app, actor, engine, projected):
    open_and_work(app, actor, n=1)
    projected()
    before = read_all(engine)
    view = tracking_recorder(app.recorder.datastore, TicketsProjection.name)
    projection = TicketsProjection(view)
    for domain_event, tracking in events_after(app, 0, TicketsProjection.topics):
        projection.process_event(domain_event, tracking)
    assert read_all(engine) == before


def test_rebuilding_gives_exactly_the_tables_the_live_projection_built(app, actor, engine, projected):
    open_and_work(app, actor, n=4)
    projected()
    before = read_all(engine)
    seen = []
    position = rebuild(app, "tickets", progress=seen.append)
    assert position == app.recorder.max_notification_id()
    assert read_all(engine) == before
    assert sum(seen) >= 8


def live_indexes(engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()"))
        return {(table, index) for table, index in rows if table in LIVE.metadata.tables}


def test_a_rebuild_leaves_every_index_of_the_live_tables_under_its_own_name(app, actor, engine, projected):
    open_and_work(app, actor, n=2)
    projected()
    before = live_indexes(engine)
    rebuild(app, "tickets")
    assert live_indexes(engine) == before
    assert {index.name for table in LIVE.metadata.sorted_tables for index in table.indexes} <= {index for _, index in before}


def test_the_live_projection_goes_on_after_a_rebuild(app, actor, engine, projected, tenant):
    open_and_work(app, actor, n=1)
    projected()
    rebuild(app, "tickets")
    [ticket_id] = open_and_work(app, actor, n=1)
    projected()
    with engine.connect() as conn:
        row = conn.execute(select(LIVE.tickets).where(LIVE.tickets.c.id == ticket_id)).mappings().one()
    assert row["status"] == "in_progress"
    rebuild(app, "tickets")
    assert [s.lag for s in status(app) if s.name == "tickets"] == [0]


def test_a_projection_built_by_an_older_version_is_found_stale_and_rebuilt_to_the_new_one(app, actor, engine, projected):
    open_and_work(app, actor, n=1)
    projected()
    with app.recorder.datastore.transaction(commit=True) as curs:
        curs.execute("UPDATE projection_versions SET version = version - 1 WHERE name = 'tickets'")
    assert stale_projections(app) == ["tickets"]
    assert [(s.version, s.code_version) for s in status(app) if s.name == "tickets"] == [
        (TicketsProjection.version - 1, TicketsProjection.version)
    ]
    before = read_all(engine)
    rebuild(app, "tickets")
    assert stale_projections(app) == []
    assert read_all(engine) == before


def shares_of(app, ticket_ids, shares):
    """Which share of a rebuild in `shares` processes each ticket falls to (as projections/shares.py hashes it)."""
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT mod(hashtext(id::text)::bigint + 2147483648, %s) AS share FROM unnest(%s::uuid[]) AS id", (shares, ticket_ids))
        return [row["share"] for row in curs.fetchall()]


# Batches of 50: a ticket's events fall in several, so a later batch changes rows an earlier one wrote.
@pytest.mark.parametrize(("shares", "batch"), [(2, REBUILD_BATCH), (2, 50), (1, 50)])
def test_a_rebuild_in_batches_shared_or_not_gives_exactly_the_tables_the_live_projection_built(
    app, actor, engine, projected, tenant, shares, batch
):
    ids = open_and_work(app, actor, n=4)
    while min(map(shares_of(app, ids, 2).count, (0, 1))) < 2:  # each process has tickets of its own to apply
        ids += open_and_work(app, actor, n=1)
    projected()
    before = read_all(engine)
    seen = []
    position = rebuild(app, "tickets", progress=seen.append, shares=shares, batch=batch)
    assert position == app.recorder.max_notification_id()
    assert read_all(engine) == before
    assert sum(seen) >= 2 * len(ids)


# Share 0 is applied in the rebuild's own process, share 1 in a worker process.
@pytest.mark.parametrize("failing_share", [0, 1])
def test_a_shared_rebuild_that_fails_in_one_process_says_why_and_leaves_the_live_tables_alone(app, actor, engine, projected, failing_share):
    [ticket_id] = open_and_work(app, actor, n=1)
    while shares_of(app, [ticket_id], 2) != [failing_share]:
        [ticket_id] = open_and_work(app, actor, n=1)
    projected()
    before = read_all(engine)
    table = app.recorder.events_table_name
    with app.recorder.datastore.transaction(commit=True) as curs:
        curs.execute(f"SELECT state FROM {table} WHERE originator_id = %s AND originator_version = 2", (ticket_id,))
        state = curs.fetchone()["state"]
        curs.execute(f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = 2", (b"not an event", ticket_id))
    try:
        with pytest.raises(RebuildFailed, match=rf"worker {failing_share} failed: .*{ticket_id}"):
            rebuild(app, "tickets", shares=2)
    finally:
        with app.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = 2", (state, ticket_id))
    assert not rebuild_workers()  # the other share's worker was stopped
    assert read_all(engine) == before
    assert rebuild(app, "tickets", shares=2) == app.recorder.max_notification_id()
    assert read_all(engine) == before


def rebuild_workers() -> list[int]:
    """The rebuild worker processes this test process started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and b"projections.shares" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
    return found


def test_a_rebuild_worker_that_dies_without_a_word_ends_the_rebuild_saying_so(app, actor, engine, projected):
    open_and_work(app, actor, n=3)
    projected()
    before = read_all(engine)
    failed: list[BaseException] = []

    def rebuilding() -> None:
        try:
            rebuild(app, "tickets", shares=2, batch=1)  # a transaction per event: long enough to be killed in
        except RebuildFailed as error:
            failed.append(error)

    thread = threading.Thread(target=rebuilding)
    thread.start()
    workers = eventually(rebuild_workers)
    assert workers, "no rebuild worker started"
    os.kill(workers[0], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert len(failed) == 1 and "ended with exit code -9 before it was done" in str(failed[0]), failed
    assert not rebuild_workers()  # the other one was stopped
    assert read_all(engine) == before


def test_a_projection_whose_events_cannot_be_shared_out_is_rebuilt_in_one_process_whatever_was_asked():
    assert shares_for(DashboardProjection, events=10**6, asked=4) == 1
    assert shares_for(TicketsProjection, events=10**6, asked=4) == 4
    assert shares_for(TicketsProjection, events=100) == 1  # too few to be worth starting processes


def test_a_process_starting_while_a_rebuild_swaps_tables_in_waits_for_it_and_neither_fails(app, actor, engine, projected):
    """A role's start makes the tables and grants the API's role its reads (ensure_tables) while
    a rebuild drops, renames and indexes the same tables: both change the same catalog rows."""
    open_and_work(app, actor, n=3)
    projected()
    before = read_all(engine)
    failures: list[BaseException] = []
    rebuilding = threading.Event()

    def starting_again_and_again() -> None:
        while rebuilding.is_set():
            try:
                ensure_tables(app.recorder.datastore)
            except Exception as error:  # noqa: BLE001 - what the test is about
                failures.append(error)

    rebuilding.set()
    starter = threading.Thread(target=starting_again_and_again)
    starter.start()
    try:
        for _ in range(15):
            rebuild(app, "tickets", shares=1)
    finally:
        rebuilding.clear()
        starter.join()
    assert failures == []
    assert read_all(engine) == before
