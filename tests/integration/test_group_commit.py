"""Group commit: concurrent commands share transactions, each answered with its own notification
id; commands on one ticket apply one after another; a refused or unstorable command fails alone;
tracking numbers never repeat, across processes too."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.app import Docket
from commands.deferred import run_deferred
from commands.errors import DatabaseUnavailable
from commands.loading import load_ticket
from commands.runner import DECIDERS
from commands.structs import AddReply, ChangeStatus, OpenTicket
from commands.tickets import add_reply, change_status, open_ticket
from domain.errors import TransitionNotAllowed
from domain.tracking import TrackingNumbers


@pytest.fixture
def batching(es_env):
    """An application whose batches stay open long enough for every concurrent caller to join."""
    app = Docket(env=es_env, max_wait=0.2)
    yield app
    app.close()


def all_at_once(n, work):
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        try:
            return work(i)
        except Exception as error:  # noqa: BLE001 - returned for the test to look at
            return error

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def open_one(app, actor, i=0):
    return open_ticket(app, OpenTicket(actor=actor("reporter", f"c{i}"), title=f"Report {i}", description="d", category="roads"))


def test_concurrent_commands_are_saved_together_and_each_gets_the_notification_id_of_its_own_event(batching, actor):
    tickets = [open_one(batching, actor, i) for i in range(24)]
    batches_before = batching.commands.batches
    results = all_at_once(24, lambda i: change_status(batching, ChangeStatus(actor=actor(), ticket_id=tickets[i].id, status="in_progress")))
    assert batching.commands.batches - batches_before < 24
    for ticket, result in zip(tickets, results, strict=True):
        [notification] = batching.recorder.select_notifications(start=result.notification_id, limit=1)
        assert (notification.originator_id, notification.originator_version) == (ticket.id, 2) == (result.id, result.version)


def test_commands_awaited_on_an_event_loop_are_saved_together_and_each_answered_as_a_thread_would_be(batching, actor):
    """The API's way: each decided in a handler thread, its commit awaited on the loop; a refused
    one raises there; none is left counted among the waiting. One handler thread decides them all:
    it is free again once a command is queued, so they still share batches."""
    tickets = [open_one(batching, actor, i) for i in range(24)]
    batches_before = batching.commands.batches

    async def change_all() -> list:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        moves = [
            run_deferred(lambda t=t: change_status(batching, ChangeStatus(actor=actor(), ticket_id=t.id, status="in_progress")))
            for t in tickets
        ]
        refused = run_deferred(lambda: change_status(batching, ChangeStatus(actor=actor(), ticket_id=tickets[0].id, status="open")))
        return await asyncio.gather(*moves, refused, return_exceptions=True)

    *results, refusal = asyncio.run(change_all())
    assert batching.commands.batches - batches_before < 24
    for ticket, result in zip(tickets, results, strict=True):
        [notification] = batching.recorder.select_notifications(start=result.notification_id, limit=1)
        assert (notification.originator_id, notification.originator_version) == (ticket.id, 2) == (result.id, result.version)
    assert isinstance(refusal, TransitionNotAllowed)
    assert batching.commands.waiting == 0
    assert load_ticket(batching.repository, tickets[0].id).status == "in_progress"


def test_commands_on_one_ticket_in_one_batch_apply_one_after_another(batching, actor):
    ticket = open_one(batching, actor)
    results = all_at_once(12, lambda i: add_reply(batching, AddReply(actor=actor(), ticket_id=ticket.id, body=f"reply {i}")))
    assert sorted(r.version for r in results) == list(range(2, 14))
    assert len({r.notification_id for r in results}) == 12
    assert load_ticket(batching.repository, ticket.id).version == 13


def test_of_two_commands_that_only_one_state_allows_the_second_is_refused_and_writes_nothing(batching, actor):
    ticket = open_one(batching, actor)
    results = all_at_once(6, lambda i: change_status(batching, ChangeStatus(actor=actor(), ticket_id=ticket.id, status="in_progress")))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, TransitionNotAllowed) for r in results if isinstance(r, Exception))
    assert load_ticket(batching.repository, ticket.id).version == 2


def test_no_more_than_deciders_commands_decide_at_once_and_every_one_is_answered(batching):
    deciding, most = 0, 0
    counting = threading.Lock()

    def decide_slowly(unit):
        nonlocal deciding, most
        with counting:
            deciding += 1
            most = max(most, deciding)
        time.sleep(0.02)
        with counting:
            deciding -= 1
        return "decided"

    results = all_at_once(16, lambda i: batching.commands.run(decide_slowly, lambda result, _: (i, result)))
    assert results == [(i, "decided") for i in range(16)]
    assert most == DECIDERS


def test_a_command_that_finds_no_turn_to_decide_within_its_bound_is_refused_unsaved(es_env, actor):
    app = Docket(env=es_env, timeout=0.3)
    try:
        ticket = open_one(app, actor)
        entered, release = threading.Semaphore(0), threading.Event()

        def hold(unit):
            entered.release()
            return release.wait(5)

        holding = [threading.Thread(target=app.commands.run, args=(hold, lambda r, n: r)) for _ in range(DECIDERS)]
        for thread in holding:
            thread.start()
        for _ in holding:  # every turn to decide taken
            assert entered.acquire(timeout=5)
        with pytest.raises(DatabaseUnavailable) as refused:
            change_status(app, ChangeStatus(actor=actor(), ticket_id=ticket.id, status="in_progress"))
        assert refused.value.saved is False
        release.set()
        for thread in holding:
            thread.join()
        assert load_ticket(app.repository, ticket.id).version == 1
    finally:
        app.close()


def test_a_batch_that_met_another_processs_change_is_decided_again_and_saved_together(batching, es_env, actor, caplog):
    tickets = [open_one(batching, actor, i) for i in range(8)]  # kept as this process saved them, at version 1
    other = Docket(env=es_env)
    try:
        change_status(other, ChangeStatus(actor=actor(), ticket_id=tickets[0].id, status="in_progress"))
    finally:
        other.close()
    caplog.set_level(logging.INFO, logger="commands.runner")
    results = all_at_once(8, lambda i: change_status(batching, ChangeStatus(actor=actor(), ticket_id=tickets[i].id, status="escalated")))
    assert [r.version for r in results] == [3] + [2] * 7
    assert "deciding them again on what is stored" in caplog.text
    assert "saving each on its own" not in caplog.text
    assert [e.to_status for e in list(batching.events.get(tickets[0].id))[1:]] == ["in_progress", "escalated"]


def test_a_command_that_cannot_be_stored_fails_alone_and_its_batch_mates_are_saved(batching, actor):
    tickets = [open_one(batching, actor, i) for i in range(8)]
    # An unpaired surrogate cannot be encoded: the API refuses it, so only a bug could send it.
    body = lambda i: "bad \ud800" if i == 3 else f"fine {i}"  # noqa: E731
    results = all_at_once(8, lambda i: add_reply(batching, AddReply(actor=actor(), ticket_id=tickets[i].id, body=body(i))))
    assert isinstance(results[3], UnicodeEncodeError)
    assert [r.version for i, r in enumerate(results) if i != 3] == [2] * 7
    assert load_ticket(batching.repository, tickets[3].id).version == 1


def test_tracking_numbers_never_repeat_across_processes_opening_at_once(app, es_env, actor):
    other = Docket(env=es_env)
    try:
        results = all_at_once(30, lambda i: open_one(app if i % 2 else other, actor, i))
    finally:
        other.close()
    numbers = [r.tracking_number for r in results]
    assert len(set(numbers)) == 30
    assert all(n.startswith("TKT-") and len(n) == 10 for n in numbers)


def test_a_tenant_opening_fast_reserves_bigger_blocks_and_no_number_twice(app, es_env, tenant):
    from commands.numbers import MAX_BLOCK, TrackingNumberBlocks

    fast, other = TrackingNumberBlocks(app, block=2), TrackingNumberBlocks(Docket(env=es_env), block=2)
    try:
        issued = [(fast if i % 3 else other).issue(tenant) for i in range(200)]
    finally:
        other.app.close()
    assert len(set(issued)) == 200
    sizes = [size for size, _ in (fast._sizes[tenant], other._sizes[tenant])]
    assert all(2 < size <= MAX_BLOCK for size in sizes)  # grew from 2, as each block went in well under a second


def test_a_tenant_numbered_by_the_old_counter_aggregate_goes_on_after_its_last_number(app, actor, tenant):
    legacy = TrackingNumbers(tenant=tenant)
    for _ in range(7):
        legacy.issue()
    app.save(legacy)
    assert open_one(app, actor).tracking_number == "TKT-000008"


def test_a_configuration_change_made_by_another_process_reaches_this_ones_commands_within_seconds(app, es_env, actor):
    from commands.structs import ChangeTenantSettings
    from commands.tenants import change_tenant_settings

    assert load_ticket(app.repository, open_one(app, actor).id).workflow.name == "municipal"  # the tenant's configuration, now in memory
    other = Docket(env=es_env)
    try:
        change_tenant_settings(other, ChangeTenantSettings(actor=actor("admin"), default_workflow="helpdesk"))
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while (workflow := load_ticket(app.repository, open_one(app, actor).id).workflow.name) == "municipal" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workflow == "helpdesk"


def test_the_configuration_follower_moves_past_events_of_other_kinds(app, actor):
    """Else each look (one per commit anywhere) reads again every ticket event since the last
    configuration change."""
    open_one(app, actor)  # the tenant's configuration read: the follower runs from here
    for i in range(3):
        open_one(app, actor, i)
    head = app.recorder.max_notification_id()
    deadline = time.monotonic() + 5
    while (app.config.seen_up_to or 0) < head and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.config.seen_up_to >= head
