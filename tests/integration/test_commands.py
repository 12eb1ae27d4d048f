"""Use cases on the real event store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.app import Docket
from commands.loading import load_ticket
from commands.sla import set_sla_policies
from commands.structs import ChangeStatus, ChangeTenantSettings, EditTicket, OpenTicket, SetSLAPolicies
from commands.tenants import change_tenant_settings
from commands.tickets import change_status, edit_ticket, open_ticket, run_ticket_command
from domain.errors import DomainError, TicketNotFound, TransitionNotAllowed, VersionConflict
from domain.sla import SLAPolicies
from domain.tenant import TenantConfig


def open_one(app, actor, **overrides):
    details = {"title": "Streetlight out", "description": "Dark corner", "category": "lighting"}
    details.update(overrides)
    return open_ticket(app, OpenTicket(actor=actor("reporter", "citizen-1"), **details))


def test_an_opened_ticket_is_stored_with_a_tracking_number_and_reloads(app, actor):
    opened = open_one(app, actor)
    ticket = load_ticket(app.repository, opened.id)
    assert ticket.tracking_number == opened.tracking_number == "TKT-000001"
    assert ticket.status == opened.status == "open"
    assert opened.notification_id == app.recorder.max_notification_id() or opened.notification_id > 0


def test_a_refused_command_changes_nothing_in_the_store(app, actor):
    opened = open_one(app, actor)
    before = app.recorder.max_notification_id()
    with pytest.raises(TransitionNotAllowed):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="resolved"))
    assert app.recorder.max_notification_id() == before
    assert load_ticket(app.repository, opened.id).version == 1


def test_a_stale_expected_version_is_a_conflict(app, actor):
    opened = open_one(app, actor)
    change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress", expected_version=1))
    with pytest.raises(VersionConflict):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="resolved", expected_version=1))


def another_process(es_env):
    """A second application on the same event store, as another API process would be."""
    return Docket(env=es_env)


def test_a_command_overtaken_by_another_process_is_decided_again_on_the_newer_state(app, actor, es_env):
    opened = open_one(app, actor)
    load_ticket(app.repository, opened.id)  # now in this process's cache, at version 1
    other = another_process(es_env)
    try:
        calls = []

        def while_another_process_commits(ticket, _):
            if not calls:
                change_status(other, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))
            calls.append(ticket.status)
            ticket.change_status(actor(), "escalated")

        changed = run_ticket_command(
            app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="escalated"), while_another_process_commits
        )
    finally:
        other.close()
    assert calls == ["open", "in_progress"]
    assert changed.version == 3
    assert [type(e).__name__ for e in app.events.get(opened.id)] == ["Opened", "StatusChanged", "StatusChanged"]


def test_a_ticket_another_process_moved_on_since_this_one_saved_it_is_changed_from_its_newest_state(app, actor, es_env):
    opened = open_one(app, actor)
    change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))  # kept as saved, at version 2
    other = another_process(es_env)
    try:
        change_status(other, ChangeStatus(actor=actor(), ticket_id=opened.id, status="escalated"))
    finally:
        other.close()
    changed = change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="resolved", note="fixed"))
    assert changed.version == 4
    assert [e.to_status for e in list(app.events.get(opened.id))[1:]] == ["in_progress", "escalated", "resolved"]


def test_a_move_refused_on_the_state_this_process_saved_is_decided_again_on_the_stored_one(app, actor, es_env):
    opened = open_one(app, actor)
    change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))
    other = another_process(es_env)
    try:
        change_status(other, ChangeStatus(actor=actor(), ticket_id=opened.id, status="resolved"))
    finally:
        other.close()
    # in_progress -> in_progress is no move; resolved -> in_progress reopens it
    changed = change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))
    assert (changed.status, changed.version) == ("in_progress", 4)
    with pytest.raises(TransitionNotAllowed):  # and a refusal on the stored state stands
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))


def test_a_command_that_names_the_version_it_expects_is_a_conflict_when_another_process_got_there_first(app, actor, es_env):
    opened = open_one(app, actor)
    other = another_process(es_env)
    try:
        command = ChangeStatus(actor=actor(), ticket_id=opened.id, status="escalated", expected_version=1)

        def while_another_process_commits(ticket, _):
            if ticket.version == 1:
                change_status(other, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))
            ticket.change_status(actor(), "escalated")

        with pytest.raises(VersionConflict):
            run_ticket_command(app, command, while_another_process_commits)
    finally:
        other.close()
    assert load_ticket(app.repository, opened.id).status == "in_progress"


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
    ticket = load_ticket(app.repository, opened.id)
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


def test_commands_that_read_the_tenants_configuration_leave_what_every_command_shares_as_stored(app, actor):
    """An opening, an edit and a reporter's reply read the tenant's settings and SLA policies
    from the cache itself, not from a copy: none of them may change what the others read."""
    admin = actor("admin")
    change_tenant_settings(app, ChangeTenantSettings(actor=admin, sensitive_categories=["abuse"], reporter_reply_moves_ticket=True))
    set_sla_policies(app, SetSLAPolicies(actor=admin, policies=[{"id": "standard", "response_hours": 4, "resolution_hours": 24}]))
    config_id, policies_id = TenantConfig.create_id(admin.tenant), SLAPolicies.create_id(admin.tenant)
    opened = [open_one(app, actor, category=category) for category in ("lighting", "abuse", "roads")]
    edit_ticket(app, EditTicket(actor=actor(), ticket_id=opened[0].id, changes={"priority": "urgent"}))
    for aggregate_id in (config_id, policies_id):
        assert vars(app.config.read(aggregate_id)) == vars(app.repository.get(aggregate_id))
    assert load_ticket(app.repository, opened[1].id).is_sensitive  # what the settings say was read
    assert load_ticket(app.repository, opened[0].id).sla_policy["id"] == "standard"


def test_a_tenant_without_configuration_reads_the_defaults_and_its_first_change_saves_a_fresh_one(app, actor):
    opened = open_one(app, actor)
    assert load_ticket(app.repository, opened.id).workflow.name == "municipal"
    saved = change_tenant_settings(app, ChangeTenantSettings(actor=actor("admin"), default_workflow="helpdesk"))
    assert (
        app.repository.get(TenantConfig.create_id(actor().tenant)).version == 2
    )  # started, then changed: nothing of the defaults read before
    assert saved.notification_id is not None
    assert load_ticket(app.repository, open_one(app, actor).id).workflow.name == "helpdesk"
