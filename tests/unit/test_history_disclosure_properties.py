"""What of a ticket's history each role reads (domain.disclosure), public status notes, and routing
on opening a ticket whose SLA clocks started as it opened: on the domain alone."""

from __future__ import annotations

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from commands.app import TICKET_EVENTS, Docket
from domain.disclosure import REPORTER_SEES, disclosed, history_scope, in_scope
from domain.errors import Refused
from domain.permissions import Role
from domain.routing import Offer
from domain.sla import policy_from_definition
from domain.workflow import FIELD_SERVICE, HELPDESK, MUNICIPAL
from tests.unit.helpers import actor, new_ticket, replayed

SECRET = "SECRET-staff-text"
POLICY = policy_from_definition(0, {"id": "gold", "response_hours": 4, "resolution_hours": 48})
OFFER = Offer("team-1", "Roads crew", False, "tech-1", "Tia Tech", "roads", "rule 'roads' matched")

changes = st.dictionaries(
    st.sampled_from(
        ["status", "assignee_id", "team_id", "rule", "sla_policy", "completion_notes", "approval_ref", "response_due", "reason", "x"]
    ),
    st.fixed_dictionaries({"old": st.none(), "new": st.just(SECRET)}),
    max_size=6,
)


@given(
    role=st.sampled_from(list(Role)),
    event=st.sampled_from([*TICKET_EVENTS, "SomeFutureEvent"]),
    changes=changes,
    note=st.one_of(st.none(), st.just(SECRET)),
    note_public=st.booleans(),
    internal=st.booleans(),
)
def test_a_reporter_reads_staff_text_only_where_staff_made_it_public_and_other_roles_read_every_entry_whole(
    role, event, changes, note, note_public, internal
):
    if not in_scope(role, event, internal=internal):
        assert role is Role.REPORTER or (internal and role is Role.WARD_COUNCILLOR)
        return
    shown = disclosed(role, event, changes, note, note_public=note_public)
    if role is not Role.REPORTER:
        assert (shown.changes, shown.note) == (changes, note)
        return
    assert not internal and event in REPORTER_SEES
    allowed = REPORTER_SEES[event]
    assert allowed is None or set(shown.changes) <= allowed
    assert shown.note == (note if note_public and event == "StatusChanged" else None)
    assert "rule" not in shown.changes and "sla_policy" not in shown.changes


def test_a_reporter_never_reads_a_rejection_an_unassignment_or_an_internal_note_and_an_auditor_reads_them_all():
    reporter, auditor, councillor = history_scope(Role.REPORTER), history_scope(Role.AUDITOR), history_scope(Role.WARD_COUNCILLOR)
    assert {"AssignmentRejected", "Unassigned"}.isdisjoint(reporter.events) and not reporter.internal
    assert auditor.events is None and auditor.internal
    assert councillor.events is None and not councillor.internal  # internal notes are for staff and auditors
    assert all(history_scope(role).events is None and history_scope(role).internal for role in (Role.AGENT, Role.MANAGER, Role.ADMIN))


def test_a_status_note_is_for_staff_unless_staff_make_it_public():
    ticket = new_ticket()
    ticket.change_status(actor("manager"), "in_progress", "Crew on the way", note_public=True)
    ticket.change_status(actor("manager"), "resolved", "Reporter is rude")
    ticket.change_status(actor("manager"), "closed", note_public=True)  # no note: nothing to make public
    moves = ticket.collect_events()[1:]
    assert [(e.note, e.note_public) for e in moves] == [("Crew on the way", True), ("Reporter is rude", False), (None, False)]


def test_a_status_change_stored_before_notes_could_be_public_loads_with_a_note_for_staff():
    ticket = new_ticket()
    ticket.change_status(actor("manager"), "in_progress", "Old note")
    events = ticket.collect_events()
    mapper = Docket(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    stored = mapper.to_stored_event(events[1])
    state = msgspec.json.decode(stored.state)
    del state["note_public"], state["class_version"]  # as a version 1 event was stored
    version_1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic, msgspec.json.encode(state))
    old = mapper.to_domain_event(version_1)
    assert (old.note, old.note_public) == ("Old note", False)
    assert replayed(ticket, [events[0], old]).status == "in_progress"


@pytest.mark.parametrize("workflow", [MUNICIPAL, FIELD_SERVICE, HELPDESK], ids=lambda w: w.name)
def test_a_ticket_whose_sla_clocks_started_as_it_opened_is_still_routed_on_opening(workflow):
    ticket = new_ticket(workflow=workflow)
    ticket.start_sla(POLICY, 1)
    ticket.route_on_opening(OFFER)
    assert (ticket.team_id, ticket.assignee_id) == ("team-1", "tech-1")
    assert set(ticket.sla_deadlines) == {"response", "resolution"}
    if workflow is FIELD_SERVICE:
        assert ticket.status == "assigned"


def test_a_stored_ticket_or_one_routed_already_is_not_routed_on_opening():
    routed = new_ticket()
    routed.route_on_opening(OFFER)
    with pytest.raises(Refused) as twice:
        routed.route_on_opening(OFFER)
    assert twice.value.code == "not_opening"
    stored = new_ticket()
    stored.collect_events()  # as saving does
    with pytest.raises(Refused) as later:
        stored.route_on_opening(OFFER)
    assert later.value.code == "not_opening"
