"""The command runner's bounds: past its limit a command is refused before it decides; a command
whose commit does not come in time is answered, and told truly whether it was saved."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from commands.app import Docket
from commands.deferred import run_deferred
from commands.errors import DatabaseUnavailable, Overloaded
from commands.structs import OpenTicket
from commands.tickets import open_ticket
from domain.ticket import Ticket


@pytest.fixture
def limited(es_env):
    app = Docket(env=es_env, max_waiting=2, timeout=0.5)
    yield app
    app.close()


def in_a_thread(call):
    return call()


def awaited_on_a_loop(call):
    """As the API's hot handlers call: decided in a handler thread, the commit awaited on a loop."""
    return asyncio.run(run_deferred(call))


CALLERS = pytest.mark.parametrize("caller", [in_a_thread, awaited_on_a_loop])


def opening(actor, title: str) -> OpenTicket:
    return OpenTicket(actor=actor("reporter", "r1"), title=title, description="d", category="roads")


@CALLERS
def test_a_command_past_the_limit_is_refused_at_once_without_deciding_and_the_next_one_is_taken(limited, actor, caller):
    release = threading.Event()
    decided = []

    def blocking(unit):
        decided.append(1)
        release.wait(10)

    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(caller, lambda: limited.commands.run(blocking, lambda result, notification_id: "done")) for _ in range(2)]
        while limited.commands.waiting < 2:
            time.sleep(0.01)
        began = time.monotonic()
        with pytest.raises(Overloaded):
            caller(lambda: limited.commands.run(lambda unit: decided.append("third"), lambda result, notification_id: None))
        assert time.monotonic() - began < 0.05
        assert "third" not in decided
        release.set()
        assert [future.result(10) for future in held] == ["done", "done"]
    assert limited.commands.waiting == 0
    assert caller(lambda: open_ticket(limited, opening(actor, "after the crowd"))).tracking_number


@CALLERS
def test_a_command_whose_commit_does_not_come_in_time_is_told_whether_it_may_have_been_saved(limited, database_url, actor, caller):
    """While another transaction holds the events table, the first command is in a transaction
    (it may yet commit, and does), the second still queued (dropped: never saved)."""
    head = limited.recorder.max_notification_id() or 0
    with psycopg.connect(database_url) as blocker, ThreadPoolExecutor(2) as pool:
        blocker.execute("LOCK TABLE docket_events IN EXCLUSIVE MODE")
        began = time.monotonic()
        first = pool.submit(caller, lambda: open_ticket(limited, opening(actor, "in the transaction")))
        time.sleep(0.2)  # the committer takes it and waits for the lock
        second = pool.submit(caller, lambda: open_ticket(limited, opening(actor, "still queued")))
        unknown, dropped = first.exception(5), second.exception(5)
        assert time.monotonic() - began < 0.2 + 0.5 + 0.3
        blocker.rollback()
    assert isinstance(unknown, DatabaseUnavailable) and unknown.saved is None
    assert "may or may not have been saved" in unknown.message
    assert isinstance(dropped, DatabaseUnavailable) and dropped.saved is False
    assert "nothing was saved" in dropped.message
    assert limited.commands.waiting == 0

    # Once the lock is gone, the first commits (as its caller was told it might); the second never.
    open_ticket(limited, opening(actor, "after the lock"))
    assert titles_opened_since(limited, head, actor().tenant) == ["in the transaction", "after the lock"]


def titles_opened_since(app: Docket, position: int, tenant: str) -> list[str]:
    notifications = app.recorder.select_notifications(start=position + 1, limit=1000)
    tickets = [app.repository.get(n.originator_id) for n in notifications if n.originator_version == 1]
    return [t.title for t in tickets if isinstance(t, Ticket) and t.tenant == tenant]
