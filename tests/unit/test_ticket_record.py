"""The ticket record, its conversation and its changes, on the aggregate alone."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import Forbidden, Invalid, Refused, TransitionNotAllowed
from domain.ticket import Ticket
from domain.workflow import FIELD_SERVICE, HELPDESK
from tests.unit.helpers import actor, new_ticket, replayed

REPORTER = actor("reporter", "citizen-1")


def test_opening_keeps_the_whole_record_checked_and_tidied():
    ticket = new_ticket(
        severity="major",
        ticket_type="repair",
        reporter={"name": " Ann Dube ", "phone": "+27 21 555 0100", "email": "ann@example.org"},
        address="12 Main St",
        tags=["roads", "roads", " potholes "],
        watchers=["manager-1"],
        custom_fields={"asset_id": "P-77", "lanes": 2},
    )
    assert (ticket.reporter_id, ticket.reporter_name, ticket.reporter_email) == ("citizen-1", "Ann Dube", "ann@example.org")
    assert ticket.tags == ["roads", "potholes"]
    assert (ticket.severity, ticket.ticket_type, ticket.custom_fields) == ("major", "repair", {"asset_id": "P-77", "lanes": 2})
    [opened] = ticket.collect_events()
    assert opened.workflow_definition == ticket.workflow.to_definition()


def test_a_reporter_always_reports_for_themselves_and_staff_may_name_the_reporter():
    mine = Ticket.open(REPORTER, "TKT-1", HELPDESK, title="t", description="d", category="c", reporter={"id": "someone-else"})
    assert mine.reporter_id == "citizen-1"
    theirs = Ticket.open(actor("agent", "desk-1"), "TKT-2", HELPDESK, title="t", description="d", category="c", reporter={"id": "caller-9"})
    assert theirs.reporter_id == "caller-9"


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"severity": "apocalyptic"}, "severity"),
        ({"reporter": {"email": "not-an-address"}}, "reporter.email"),
        ({"reporter": {"phone": "call me"}}, "reporter.phone"),
        ({"tags": ["has space"]}, "tags"),
        ({"custom_fields": {"Bad Name": 1}}, "custom_fields"),
        ({"custom_fields": {"nested": {"a": 1}}}, "custom_fields.nested"),
        ({"location": {"lat": 91, "lon": 0}}, "location"),
    ],
)
def test_a_bad_value_at_opening_is_refused_naming_the_field(details, field):
    with pytest.raises(Invalid) as refused:
        new_ticket(**details)
    assert refused.value.field == field


def test_an_edit_records_each_changed_field_old_and_new_and_nothing_for_unchanged_ones():
    ticket = new_ticket(tags=["roads"])
    ticket.collect_events()
    ticket.edit(actor("agent"), {"title": "Pothole, Main St & 3rd", "priority": "high", "tags": ["roads", "urgent-repair"]})
    [edited] = ticket.collect_events()
    assert isinstance(edited, Ticket.Edited)
    assert edited.changes == {
        "title": {"old": "Pothole on Main St", "new": "Pothole, Main St & 3rd"},
        "tags": {"old": ["roads"], "new": ["roads", "urgent-repair"]},
    }
    ticket.edit(actor("agent"), {"priority": "high"})
    assert ticket.collect_events() == []


def test_fields_outside_the_editable_ones_are_refused_by_name():
    ticket = new_ticket()
    with pytest.raises(Invalid) as refused:
        ticket.edit(actor("agent"), {"status": "closed"})
    assert (refused.value.code, refused.value.field) == ("not_editable", "status")


def test_staff_correct_a_misfiled_ward_and_location_recorded_old_and_new_and_the_facts_follow():
    ticket = new_ticket()
    ticket.collect_events()
    ticket.edit(actor("agent"), {"ward": " ward-9 ", "location": {"lat": 1, "lon": 2}, "address": "3 Elm St"})
    [edited] = ticket.collect_events()
    assert edited.changes == {
        "ward": {"old": "ward-7", "new": "ward-9"},
        "location": {"old": {"lat": -33.9, "lon": 18.4}, "new": {"lat": 1.0, "lon": 2.0}},
        "address": {"old": None, "new": "3 Elm St"},
    }
    assert (ticket.facts.ward, ticket.location) == ("ward-9", {"lat": 1.0, "lon": 2.0})
    with pytest.raises(Invalid) as off_the_globe:
        ticket.edit(actor("agent"), {"location": {"lat": 0, "lon": 181}})
    assert off_the_globe.value.field == "location"
    with pytest.raises(Forbidden):
        ticket.edit(REPORTER, {"ward": "ward-7"})


def test_field_service_assigns_by_naming_the_technician_and_only_they_move_it_on():
    ticket = Ticket.open(REPORTER, "TKT-1", FIELD_SERVICE, title="No water", description="Pump down", category="plumbing")
    with pytest.raises(Invalid) as missing:
        ticket.change_status(actor("admin"), "assigned")
    assert missing.value.field == "assignee_id"
    ticket.change_status(actor("admin"), "assigned", values={"assignee_id": "tech-1"})
    with pytest.raises(TransitionNotAllowed) as not_theirs:
        ticket.change_status(actor("agent", "tech-2"), "in_progress")
    assert not_theirs.value.code == "not_the_assignee"
    ticket.change_status(actor("agent", "tech-1"), "in_progress")
    ticket.change_status(actor("agent", "tech-1"), "completed", values={"completion_notes": "Replaced the impeller"})
    completed = ticket.collect_events()[-1]
    assert completed.fields == {"completion_notes": "Replaced the impeller"}
    assert (completed.from_category, completed.to_category) == ("open", "resolved")


def test_a_reporters_reply_moves_a_waiting_ticket_only_where_the_tenant_turned_it_on():
    for moves, expected in ((False, "waiting_for_response"), (True, "in_progress")):
        ticket = Ticket.open(REPORTER, "TKT-1", HELPDESK, title="Login fails", description="Since Monday", category="accounts")
        ticket.change_status(actor("agent"), "answered")
        ticket.change_status(actor("agent"), "waiting_for_response")
        ticket.reply(REPORTER, uuid4(), "Still failing", reporter_reply_moves=moves)
        assert ticket.status == expected
        if moves:
            moved = ticket.collect_events()[-1]
            assert (moved.actor_role, moved.from_status, moved.to_status) == ("reporter", "waiting_for_response", "in_progress")


def test_internal_notes_and_solutions_are_for_staff_only():
    ticket = new_ticket()
    with pytest.raises(Forbidden):
        ticket.reply(REPORTER, uuid4(), "psst", internal=True)
    with pytest.raises(Forbidden) as refused:
        ticket.reply(REPORTER, uuid4(), "fixed it myself", is_solution=True)
    assert refused.value.field == "is_solution"
    ticket.reply(actor("agent"), uuid4(), "Crew booked for Tuesday", internal=True)
    assert ticket.collect_events()[-1].internal is True


def test_an_archived_ticket_refuses_every_further_change():
    ticket = new_ticket()
    ticket.archive(actor("manager"), "duplicate of TKT-000007")
    with pytest.raises(Refused) as refused:
        ticket.change_status(actor("manager"), "in_progress")
    assert refused.value.code == "archived"
    with pytest.raises(Refused):
        ticket.reply(REPORTER, uuid4(), "hello?")


def test_only_an_admin_redacts_and_only_a_personal_field_that_holds_something():
    ticket = new_ticket(reporter={"phone": "+27 21 555 0100"})
    with pytest.raises(Forbidden):
        ticket.redact(actor("manager"), "reporter_phone", "asked by the reporter")
    with pytest.raises(Invalid):
        ticket.redact(actor("admin"), "title", "no")
    ticket.redact(actor("admin"), "reporter_phone", "asked by the reporter")
    assert ticket.reporter_phone is None
    with pytest.raises(Refused):
        ticket.redact(actor("admin"), "reporter_phone", "again")
    events = ticket.collect_events()
    assert replayed(ticket, events).reporter_phone is None


def test_reopening_a_resolved_or_closed_ticket_counts():
    ticket = new_ticket()
    for to in ("in_progress", "resolved", "in_progress", "closed", "open"):
        ticket.change_status(actor("agent"), to)
    assert ticket.reopen_count == 2
