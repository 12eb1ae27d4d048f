"""The SLA scheduler on real PostgreSQL and NATS, with a clock run ahead of the wall clock."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from commands.breaches import breach_sla
from commands.loading import load_ticket
from commands.sla import set_sla_policies
from commands.structs import OpenTicket, SetSLAPolicies
from commands.tickets import open_ticket
from workers.scheduler import SLAScheduler, offset_clock


def stored_events(app, ticket_id) -> list[str]:
    return [type(e).__name__ for e in app.events.get(ticket_id)]


def run_scheduler_until(app, engine, database_url, nats_url, ahead: timedelta, done, timeout: float = 20) -> SLAScheduler:
    scheduler = SLAScheduler(app, engine, database_url, nats_url, clock=offset_clock(ahead), name="test-scheduler")

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await task

    asyncio.run(run())
    return scheduler


def test_from_opening_to_breach_to_escalation_on_an_injected_clock(app, actor, engine, database_url, nats_url, projected):
    set_sla_policies(app, SetSLAPolicies(actor=actor("admin"), policies=[{"id": "standard", "response_hours": 4, "resolution_hours": 48}]))
    opened = open_ticket(
        app, OpenTicket(actor=actor("reporter", "c1"), title="Streetlight out", description="Dark corner", category="lights")
    )
    projected()
    ticket = load_ticket(app.repository, opened.id)
    assert ticket.sla_deadlines["response"] - ticket.created_on == timedelta(hours=4)

    breached = lambda: "response" in load_ticket(app.repository, opened.id).sla_breached  # noqa: E731
    scheduler = run_scheduler_until(app, engine, database_url, nats_url, timedelta(hours=5), breached)

    ticket = load_ticket(app.repository, opened.id)
    assert scheduler.fired >= 1
    assert (ticket.status, ticket.escalation_level, ticket.sla_breached) == ("escalated", 1, {"response"})
    assert stored_events(app, opened.id)[-3:] == ["SLABreached", "Escalated", "StatusChanged"]
    # A late timer, or a second scheduler, changes nothing more.
    assert breach_sla(app, opened.id, "response", ticket.sla_deadlines["response"] + timedelta(hours=6)) is False
    assert stored_events(app, opened.id).count("SLABreached") == 1


def test_a_deadline_not_yet_due_on_the_schedulers_clock_does_not_fire(app, actor, engine, database_url, nats_url, projected):
    set_sla_policies(app, SetSLAPolicies(actor=actor("admin"), policies=[{"id": "standard", "response_hours": 4}]))
    opened = open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title="Leak", description="Small", category="water"))
    projected()
    run_scheduler_until(app, engine, database_url, nats_url, timedelta(hours=3), lambda: False, timeout=3)
    assert "SLABreached" not in stored_events(app, opened.id)
