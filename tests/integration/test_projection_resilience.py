"""A projection never dies on an event's content, and one that fails for any other reason backs
off, opens no new connections, is reported by /health by name and position, and stops promptly."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from sqlalchemy import select, text

from commands.structs import AddReply, OpenTicket
from commands.tickets import add_reply, open_ticket
from projections.base import TrackedProjection
from projections.operations import rebuild, tracking_recorder
from projections.runner import ProjectionLoop
from projections.ticket_tables import LIVE
from tests.integration.test_tickets_projection import read_all

POISON = "hi\x00there"


def test_events_already_stored_with_text_postgres_cannot_hold_still_project_and_rebuild_alike(app, actor, engine, projected):
    opened = open_ticket(app, OpenTicket(actor=actor("reporter", "ann"), title="Bad\x00title", description="d\x00", category="roads"))
    add_reply(app, AddReply(actor=actor("reporter", "ann"), ticket_id=opened.id, body=POISON))
    other = open_ticket(
        app, OpenTicket(actor=actor("reporter", "bob", tenant_="elsewhere"), title="Fine", description="d", category="roads")
    )
    projected()
    with engine.connect() as conn:
        title = conn.execute(select(LIVE.tickets.c.title).where(LIVE.tickets.c.id == opened.id)).scalar_one()
        body = conn.execute(select(LIVE.replies.c.body).where(LIVE.replies.c.ticket_id == opened.id)).scalar_one()
        assert conn.execute(select(LIVE.tickets.c.id).where(LIVE.tickets.c.id == other.id)).scalar_one() == other.id
    assert title == "Bad\ufffdtitle"
    assert body == "hi\ufffdthere"
    before = read_all(engine)
    rebuild(app, "tickets")
    assert read_all(engine) == before


class Flaky(TrackedProjection):
    """Fails on every event while `failing` is set: a stand-in for a bug or a lost database."""

    name = "flaky"
    failing: ClassVar[threading.Event] = threading.Event()
    applied: ClassVar[list[int]] = []

    @staticmethod
    def tables_for(suffix: str) -> Any:
        return None

    def apply(self, domain_event, tracking, curs) -> None:
        if self.failing.is_set():
            raise RuntimeError("the handler failed")
        self.applied.append(tracking.notification_id)


def backends(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")).scalar_one()


def stall_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(text("SELECT name, position, failures FROM projection_stalls WHERE name = 'flaky'")).mappings()
        ]


def ready_answer(client, within: float = 5.0):
    """/health once it has answered in time: its own bound (READY_TIMEOUT, 1 s) may pass while the
    failing projection's retries, logged with their tracebacks, keep both cores busy."""
    deadline = time.monotonic() + within
    answer = client.get("/health")
    while answer.status_code == 503 and "no answer within" in answer.text and time.monotonic() < deadline:
        answer = client.get("/health")
    return answer


def test_a_failing_projection_retries_without_leaking_connections_and_health_names_it(app, actor, engine, client):
    tracking_recorder(app.recorder.datastore, Flaky.name).create_table()
    open_ticket(app, OpenTicket(actor=actor("reporter"), title="T", description="d", category="roads"))
    head = app.recorder.max_notification_id()
    Flaky.failing.set()
    loop = ProjectionLoop(app, Flaky, first_backoff=0.001, max_backoff=0.005)
    halt = threading.Event()
    thread = threading.Thread(target=loop.run, args=(halt,))
    before = backends(engine)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while loop.failures < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert loop.failures >= 100
        assert backends(engine) <= before + 2  # its listening connection, and one from the pool at most
        [stall] = stall_rows(engine)
        assert stall["position"] == 0 and stall["failures"] >= 100

        answer = ready_answer(client)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "degraded"
        assert [(p["name"], p["position"], p["error"]) for p in answer.json()["stalled_projections"]] == [("flaky", 0, "RuntimeError")]
        assert "the handler failed" not in answer.text  # an error's message may quote an event

        Flaky.failing.clear()
        loop.wait(head, timeout=10)
        assert Flaky.applied[-1] == head
        assert stall_rows(engine) == []
    finally:
        Flaky.failing.clear()
        halt.set()
        started = time.monotonic()
        thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 2.5
    assert client.get("/health").json()["status"] == "ok"
