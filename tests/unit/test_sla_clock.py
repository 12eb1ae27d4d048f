"""The SLA clock on a ticket: deadlines as events, pauses, responses, resolutions, breaches."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import Invalid
from domain.sla import SLAFacts, SLAPolicies, policy_from_definition
from domain.ticket import Ticket
from domain.workflow import FIELD_SERVICE, HELPDESK, MUNICIPAL
from tests.unit.helpers import TENANT, actor, replayed

REPORTER = actor("reporter", "citizen-1")
STANDARD = {"id": "standard", "response_hours": 4, "resolution_hours": 72, "warning_threshold": 0.75}
OFFICE = {
    "id": "office",
    "resolution_hours": 9,
    "calendar": {"timezone": "Africa/Johannesburg", "hours": {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}},
}


def opened(workflow=MUNICIPAL, policy=STANDARD) -> Ticket:
    ticket = Ticket.open(REPORTER, "TKT-1", workflow, title="Burst pipe", description="Water everywhere", category="water", priority="high")
    ticket.start_sla(policy_from_definition(0, policy), 3)
    return ticket


def test_opening_under_a_policy_records_its_deadlines_with_the_policy_and_its_version():
    ticket = opened()
    deadlines = ticket.collect_events()[-1]
    assert isinstance(deadlines, Ticket.SLADeadlinesSet)
    assert (deadlines.policy_id, deadlines.policy_version, deadlines.reason) == ("standard", 3, "opened")
    assert deadlines.response_due - ticket.created_on == timedelta(hours=4)
    assert deadlines.resolution_due - ticket.created_on == timedelta(hours=72)
    assert deadlines.response_warning_at - ticket.created_on == timedelta(hours=3)


def test_business_hours_count_only_working_time():
    ticket = opened(policy=OFFICE)
    due = ticket.sla_deadlines["resolution"]
    calendar = policy_from_definition(0, OFFICE).calendar
    assert calendar.working_time_between(ticket.created_on, due) == timedelta(hours=9)
    assert calendar.is_working(due - timedelta(seconds=1))


def test_the_first_staff_move_meets_the_response_target_and_resolving_the_resolution_target():
    ticket = opened()
    ticket.change_status(actor("agent"), "in_progress")
    ticket.change_status(actor("agent"), "resolved")
    met = [e for e in ticket.collect_events() if isinstance(e, Ticket.SLAMet)]
    assert [(m.kind, m.on_time) for m in met] == [("response", True), ("resolution", True)]
    assert ticket.sla_met == {"response", "resolution"}


def test_a_public_staff_reply_meets_the_response_target_and_an_internal_note_does_not():
    ticket = opened()
    ticket.reply(actor("agent"), uuid4(), "Looking into it", internal=True)
    assert "response" not in ticket.sla_met
    ticket.reply(actor("agent"), uuid4(), "A plumber comes at noon")
    assert "response" in ticket.sla_met


def test_a_pending_state_pauses_the_clock_and_resuming_moves_the_deadline_by_the_pause():
    ticket = opened(HELPDESK)
    ticket.change_status(actor("agent"), "answered")
    before = ticket.sla_deadlines["resolution"]
    ticket.change_status(actor("agent"), "waiting_for_response")
    assert ticket.sla_paused_at is not None
    assert ticket.breach_sla("resolution", before + timedelta(days=30)) is False  # no breach while paused
    ticket.change_status(actor("agent"), "in_progress")
    events = ticket.collect_events()
    paused = next(e for e in events if isinstance(e, Ticket.SLAPaused))
    resumed = next(e for e in events if isinstance(e, Ticket.SLAResumed))
    assert resumed.resolution_due - before == resumed.at - paused.at  # 24x7: the whole pause counts


def test_a_breach_is_recorded_once_and_escalates_where_the_workflow_can():
    ticket = opened()
    due = ticket.sla_deadlines["response"]
    assert ticket.breach_sla("response", due - timedelta(seconds=1)) is False
    assert ticket.breach_sla("response", due) is True
    assert ticket.breach_sla("response", due + timedelta(hours=1)) is False
    assert (ticket.status, ticket.escalation_level) == ("escalated", 1)
    events = ticket.collect_events()
    assert [type(e).__name__ for e in events[-3:]] == ["SLABreached", "Escalated", "StatusChanged"]
    assert events[-1].actor_role == "system" and events[-2].reason.startswith("The response deadline")


def test_a_workflow_without_an_escalated_state_still_raises_the_escalation_level():
    ticket = opened(FIELD_SERVICE)
    assert ticket.breach_sla("resolution", ticket.sla_deadlines["resolution"])
    assert (ticket.status, ticket.escalation_level) == ("created", 1)


def test_a_met_target_is_never_breached():
    ticket = opened()
    ticket.change_status(actor("agent"), "in_progress")
    assert ticket.breach_sla("response", ticket.sla_deadlines["response"] + timedelta(days=1)) is False


def test_reopening_restarts_the_resolution_clock_when_the_policy_says_so():
    for reopen, restarts in (("restart", True), ("continue", False)):
        ticket = opened(policy={**STANDARD, "reopen": reopen})
        first = ticket.sla_deadlines["resolution"]
        ticket.change_status(actor("agent"), "in_progress")
        ticket.change_status(actor("agent"), "resolved")
        ticket.change_status(actor("agent"), "in_progress")
        assert ("resolution" in ticket.sla_met) is not restarts
        assert (ticket.sla_deadlines["resolution"] > first) is restarts


def test_a_priority_change_recomputes_the_deadlines_with_the_reason():
    policies = SLAPolicies(tenant=TENANT)
    policies.replace(actor("admin"), [{**STANDARD, "id": "urgent", "priority": "urgent", "resolution_hours": 8}, STANDARD])
    ticket = opened()
    ticket.edit(actor("manager"), {"priority": "urgent"})
    policy = policies.policy_for(SLAFacts("municipal", "water", "urgent", None))
    ticket.recompute_sla(actor("manager"), policy, policies.policies_version, "The priority changed.")
    recomputed = ticket.collect_events()[-1]
    assert (recomputed.policy_id, recomputed.reason) == ("urgent", "The priority changed.")
    assert recomputed.resolution_due - ticket.created_on == timedelta(hours=8)


def test_replaying_gives_the_same_deadlines_whatever_the_policy_became():
    ticket = opened(HELPDESK)
    ticket.change_status(actor("agent"), "on_hold")
    ticket.change_status(actor("agent"), "in_progress")
    events = ticket.collect_events()
    policy_now = policy_from_definition(0, {**STANDARD, "resolution_hours": 1})  # the tenant changed it since
    rebuilt = replayed(ticket, events)
    assert rebuilt.sla_deadlines == ticket.sla_deadlines
    assert rebuilt.sla_deadlines["resolution"] - ticket.created_on != policy_now.target("resolution")


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"id": "p"}, "policies[0]"),
        ({"id": "p", "response_hours": -1}, "policies[0].response_hours"),
        ({"id": "p", "response_hours": 1, "warning_threshold": 1.5}, "policies[0].warning_threshold"),
        ({"id": "p", "response_hours": 1, "reopen": "sometimes"}, "reopen"),
        ({"id": "p", "response_hours": 1, "calendar": {"timezone": "Mars/Olympus"}}, "calendar.timezone"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(policy, field):
    with pytest.raises(Invalid) as refused:
        SLAPolicies(tenant=TENANT).replace(actor("admin"), [policy])
    assert refused.value.field == field


@settings(max_examples=50, deadline=None)
@given(
    moves=st.lists(
        st.sampled_from(["answered", "in_progress", "on_hold", "waiting_for_response", "resolved", "closed", "open"]), max_size=12
    )
)
def test_no_sequence_of_moves_brings_a_deadline_forward_or_breaks_replay(moves):
    ticket = opened(HELPDESK)
    seen = dict(ticket.sla_deadlines)
    for to in moves:
        if to in HELPDESK.targets(ticket.status, actor("agent").role):
            ticket.change_status(actor("agent"), to)
            for kind, due in ticket.sla_deadlines.items():
                if kind in seen and kind not in ticket.sla_met and ticket.sla_deadlines.get(kind) is not None:
                    assert due >= seen[kind]
                seen[kind] = due
    assert replayed(ticket, ticket.collect_events()).sla_deadlines == ticket.sla_deadlines
