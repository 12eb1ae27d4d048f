"""SLA replay runs a ticket's clock again over what happened to it: under the policy it had, it
comes to the deadlines and outcomes the Ticket aggregate recorded; under another, to that one's."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from domain.sla import policy_from_definition
from domain.sla_replay import SLAReplay
from domain.workflow import HELPDESK
from tests.unit.helpers import actor, new_ticket

POLICY = {"id": "std", "response_hours": 4, "resolution_hours": 48, "reopen": "restart"}


def played() -> tuple:
    """A helpdesk ticket taken on, put on hold, resumed, resolved, closed and reopened, with its events."""
    ticket = new_ticket(workflow=HELPDESK, category="water", priority="high")
    ticket.start_sla(policy_from_definition(0, POLICY), 1)
    agent = actor("manager")
    for status in ("in_progress", "on_hold", "in_progress", "resolved", "closed", "open"):
        time.sleep(0.002)
        ticket.change_status(agent, status)
    return ticket, ticket.collect_events()


def replay_of(events, definition) -> tuple:
    replay = SLAReplay([policy_from_definition(0, definition)])
    for event in events:
        replay.apply(event)
    (clocks,) = replay.tickets.values()
    return replay, clocks


def test_under_the_policy_it_had_the_replay_comes_to_the_deadlines_the_aggregate_recorded():
    ticket, events = played()
    _, clocks = replay_of(events, POLICY)
    for kind, due in ticket.sla_deadlines.items():
        assert abs(clocks.replayed.clocks[kind].due - due) < timedelta(seconds=1), kind  # a pause is timed by its move, not its own event
    assert clocks.replayed.outcome == {"response": "met"}  # the resolution target was met, then restarted by the reopening
    assert clocks.recorded.outcome == {"response": "met"}
    assert set(clocks.recorded.due) == {"response", "resolution"}


def test_a_tighter_target_turns_a_met_response_into_a_breach_and_rows_group_by_category_and_priority():
    _, events = played()
    replay, _ = replay_of(events, {**POLICY, "response_hours": 1e-9})
    (row,) = replay.rows(datetime.now(UTC))
    assert (row.category, row.priority) == ("water", "high")
    assert (row.recorded.met, row.recorded.breached, row.recorded.compliance_percent) == (0, 0, None)  # its resolution is still running
    assert (row.replayed.breached, row.replayed.compliance_percent) == (1, 0.0)


def test_a_policy_that_matches_no_ticket_decides_nothing_and_a_later_day_range_leaves_it_out():
    _, events = played()
    replay, clocks = replay_of(events, {**POLICY, "category": ["roads"]})
    assert clocks.replayed.clocks == {}
    assert replay.rows(datetime.now(UTC))[0].replayed.met == 0
    later = SLAReplay([policy_from_definition(0, POLICY)], since=datetime.now(UTC).date() + timedelta(days=1))
    for event in events:
        later.apply(event)
    assert later.rows(datetime.now(UTC)) == []
