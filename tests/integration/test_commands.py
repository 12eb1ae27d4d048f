"""Use cases on the real event store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.loading import load_ticket
from commands.structs import ChangeStatus, OpenTicket
from commands.tickets import change_status, open_ticket, run_ticket_command
from domain.errors import DomainError, TicketNotFound, TransitionNotAllowed, VersionConflict


def open_one(app, actor, **overrides):
    details = {"title": "Streetlight out", "description": "Dark corner", "category": "lighting"}
    details.update(overrides)
    return open_ticket(app, OpenTicket(actor=actor("reporter", "citizen-1"), **details))


def test_an_opened_ticket_is_stored_with_a_tracking_number_and_reloads(app, actor):
    opened = open_one(app, actor)
    ticket = load_ticket(app, opened.id)
    assert ticket.tracking_number == opened.tracking_number == "TKT-000001"
    assert ticket.status == opened.status == "open"
    assert opened.notification_id == app.recorder.max_notification_id() or opened.notification_id > 0


def test_a_refused_command_changes_nothing_in_the_store(app, actor):
    opened = open_one(app, actor)
    before = app.recorder.max_notification_id()
    with pytest.raises(TransitionNotAllowed):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="resolved"))
    assert app.recorder.max_notification_id() == before
    assert load_ticket(app, opened.id).version == 1


def test_a_stale_expected_version_is_a_conflict(app, actor):
    opened = open_one(app, actor)
    change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress", expected_version=1))
    with pytest.raises(VersionConflict):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="resolved", expected_version=1))


def test_two_writers_on_one_version_one_wins_and_the_other_gets_a_conflict(app, actor):
    opened = open_one(app, actor)

    def while_another_writer_commits(ticket):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))
        ticket.change_status(actor(), "escalated")

    with pytest.raises(VersionConflict):
        command = ChangeStatus(actor=actor(), ticket_id=opened.id, status="escalated")
        run_ticket_command(app, command, while_another_writer_commits)
    assert load_ticket(app, opened.id).status == "in_progress"


def test_concurrent_status_changes_lose_nothing(app, actor):
    opened = open_one(app, actor)
    start = threading.Barrier(6)
    targets = ["in_progress", "escalated", "closed"] * 2

    def attempt(status):
        start.wait()
        try:
            return change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status=status))
        except (VersionConflict, TransitionNotAllowed):
            return None

    with ThreadPoolExecutor(6) as pool:
        results = [r for r in pool.map(attempt, targets) if r is not None]
    ticket = load_ticket(app, opened.id)
    assert len(results) >= 1
    assert ticket.version == 1 + len(results)
    assert sorted(r.version for r in results) == list(range(2, 2 + len(results)))


def test_concurrent_opens_in_one_tenant_get_distinct_consecutive_tracking_numbers(app, actor):
    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(lambda i: open_one(app, actor, title=f"Report {i}"), range(20)))
    numbers = sorted(o.tracking_number for o in opened)
    assert numbers == [f"TKT-{n:06d}" for n in range(1, 21)]


def test_tracking_numbers_are_counted_per_tenant(app, actor, tenant):
    open_one(app, actor)
    other = open_one(app, lambda role, sub: actor(role, sub, tenant_=tenant + "x"))
    assert other.tracking_number == "TKT-000001"


def test_an_unknown_ticket_is_not_found(app, actor):
    import uuid

    with pytest.raises(TicketNotFound):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=uuid.uuid4(), status="closed"))


def test_the_tracking_number_counter_is_not_a_ticket(app, actor, tenant):
    from domain.tracking import tracking_numbers_id

    open_one(app, actor)
    with pytest.raises(DomainError):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=tracking_numbers_id(tenant), status="closed"))
