from __future__ import annotations

import pytest

from domain.errors import Forbidden, Invalid, TicketNotFound, TransitionNotAllowed
from domain.ticket import Ticket
from domain.tracking import TrackingNumbers
from domain.workflow import MUNICIPAL
from tests.unit.helpers import TENANT, actor, new_ticket, replayed


def test_opening_records_who_opened_it_and_starts_in_the_workflows_initial_state():
    ticket = new_ticket()
    [opened] = ticket.collect_events()
    assert isinstance(opened, Ticket.Opened)
    assert (opened.tenant, opened.actor_id, opened.actor_role) == (TENANT, "citizen-1", "reporter")
    assert opened.status == "open" == ticket.status
    assert opened.workflow == "municipal" and opened.workflow_version == 1
    assert opened.location == {"lat": -33.9, "lon": 18.4}


def test_a_status_change_records_old_and_new_status_with_actor_role_and_note():
    ticket = new_ticket()
    ticket.change_status(actor("agent", "tech-9"), "in_progress", "crew on the way")
    changed = ticket.collect_events()[-1]
    assert isinstance(changed, Ticket.StatusChanged)
    assert (changed.from_status, changed.to_status) == ("open", "in_progress")
    assert (changed.tenant, changed.actor_id, changed.actor_role, changed.note) == (TENANT, "tech-9", "agent", "crew on the way")
    assert changed.timestamp.tzinfo is not None


def test_a_refused_transition_names_the_allowed_ones_and_records_nothing():
    ticket = new_ticket()
    ticket.collect_events()
    with pytest.raises(TransitionNotAllowed) as refused:
        ticket.change_status(actor(), "resolved")
    assert "allowed from open: in_progress, escalated, closed" in refused.value.message
    assert refused.value.code == "transition_not_allowed"
    assert ticket.status == "open"
    assert ticket.collect_events() == []


def test_an_unknown_status_is_bad_input_naming_the_field():
    ticket = new_ticket()
    with pytest.raises(Invalid) as invalid:
        ticket.change_status(actor(), "teleported")
    assert invalid.value.field == "status"


def test_a_reporter_may_not_change_status():
    ticket = new_ticket()
    with pytest.raises(Forbidden):
        ticket.change_status(actor("reporter", "citizen-1"), "closed")
    assert ticket.status == "open"


def test_a_ticket_of_another_tenant_does_not_exist_for_the_caller():
    ticket = new_ticket()
    with pytest.raises(TicketNotFound):
        ticket.change_status(actor("admin", tenant="other-city"), "closed")


def test_the_whole_municipal_path_including_both_reopens():
    ticket = new_ticket()
    for status in ("in_progress", "escalated", "resolved", "in_progress", "resolved", "closed", "open", "closed"):
        ticket.change_status(actor(), status)
    assert ticket.status == "closed"
    assert replayed(ticket, ticket.collect_events()).status == "closed"


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", " "), ("category", ""), ("priority", "whenever"), ("location", {"lat": 91.0, "lon": 0.0})],
)
def test_opening_with_bad_details_names_the_field(field, value):
    with pytest.raises(Invalid) as invalid:
        new_ticket(**{field: value})
    assert invalid.value.field == field


def test_tracking_numbers_count_up_per_tenant_and_are_readable():
    numbers = TrackingNumbers(tenant="city")
    assert [numbers.issue() for _ in range(3)] == ["TKT-000001", "TKT-000002", "TKT-000003"]
    assert TrackingNumbers.create_id("city") == numbers.id != TrackingNumbers.create_id("town")


def test_the_municipal_workflow_is_the_one_the_issue_describes():
    expected = {
        "open": {"in_progress", "escalated", "closed"},
        "in_progress": {"escalated", "resolved", "closed"},
        "escalated": {"in_progress", "resolved", "closed"},
        "resolved": {"closed", "in_progress"},
        "closed": {"open"},
    }
    assert {state: set(MUNICIPAL.targets(state, actor().role)) for state in MUNICIPAL.states} == expected
