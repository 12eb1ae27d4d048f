"""Random command sequences by random callers against each built-in workflow.

The rules are restated here as plain data, independently of domain/, and every step is
checked against them: what was allowed happened and was recorded, what was refused changed
nothing, and the aggregate always equals the aggregate rebuilt from its events.
"""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.permissions import Actor, Role
from domain.ticket import Ticket
from domain.workflow import BUILT_IN, FIELD_SERVICE, HELPDESK, MUNICIPAL
from tests.unit.helpers import TENANT, new_ticket, replayed

STAFF = {"agent", "manager", "liaison", "admin"}
# Who may act on a ticket at all, by its sensitivity.
MAY_HANDLE = {True: {"liaison", "admin"}, False: STAFF - {"liaison"}}
REPORTER = "citizen-1"
PEOPLE = {"reporter": [REPORTER, "citizen-2"], **{role: [f"{role}-1", "tech-1", "tech-2"] for role in STAFF}}


def everyone_on_staff(graph: dict[str, list[str]]) -> dict[tuple[str, str], tuple[set[str], bool, tuple[str, ...]]]:
    return {(source, to): (STAFF, False, ()) for source, targets in graph.items() for to in targets}


# (from, to) -> (roles that may, only the assignee, fields required)
RULES = {
    "municipal": everyone_on_staff(
        {
            "open": ["in_progress", "escalated", "closed"],
            "in_progress": ["escalated", "resolved", "closed"],
            "escalated": ["in_progress", "resolved", "closed"],
            "resolved": ["closed", "in_progress"],
            "closed": ["open"],
        }
    ),
    "field_service": {
        ("created", "assigned"): ({"manager", "admin"}, False, ("assignee_id",)),
        ("created", "cancelled"): ({"admin"}, False, ()),
        ("assigned", "cancelled"): ({"admin"}, False, ()),
        ("assigned", "in_progress"): (STAFF, True, ()),
        ("in_progress", "completed"): (STAFF, True, ("completion_notes",)),
        ("completed", "closed"): ({"admin"}, False, ()),
    },
    "helpdesk": everyone_on_staff(
        {
            "open": ["answered", "in_progress", "on_hold", "closed"],
            "answered": ["in_progress", "on_hold", "waiting_for_response", "closed"],
            "waiting_for_response": ["answered", "in_progress", "closed"],
            "on_hold": ["in_progress", "answered", "closed"],
            "in_progress": ["resolved", "on_hold", "closed"],
            "resolved": ["closed"],
            "closed": ["open"],
        }
    ),
}
REPORTER_REPLY = {"helpdesk": {"waiting_for_response": "in_progress"}}

roles = st.sampled_from(list(Role))


class WorkflowTicket(RuleBasedStateMachine):
    workflow = MUNICIPAL

    @initialize(sensitive=st.booleans(), reply_moves=st.booleans())
    def open_ticket(self, sensitive, reply_moves):
        self.rules = RULES[self.workflow.name]
        self.reply_moves = reply_moves
        self.ticket = new_ticket(workflow=self.workflow, is_sensitive=sensitive)
        self.events = self.ticket.collect_events()
        self.expected = {"status": self.workflow.initial, "assignee_id": None, "archived": False, "priority": "high"}

    def caller(self, data, role: Role) -> Actor:
        return Actor(
            id=data.draw(st.sampled_from(PEOPLE.get(role.value, [f"{role.value}-1"]))), tenant=TENANT, role=role, agent_scope="all"
        )

    def may_act(self, actor: Actor, roles_allowed: set[str]) -> bool:
        """Sees the ticket, handles its kind, holds an allowed role, and the ticket is not archived."""
        if actor.role is Role.REPORTER:
            return actor.id == REPORTER and "reporter" in roles_allowed and not self.expected["archived"]
        return actor.role.value in roles_allowed & MAY_HANDLE[self.ticket.is_sensitive] and not self.expected["archived"]

    @rule(data=st.data(), role=roles)
    def change_status(self, data, role):
        to = data.draw(st.sampled_from([*self.workflow.states, "bogus"]))
        actor = self.caller(data, role)
        values = {
            "assignee_id": data.draw(st.sampled_from([None, "tech-1", "tech-2"])),
            "completion_notes": data.draw(st.sampled_from([None, "", "replaced the pump"])),
        }
        given = {k: v for k, v in values.items() if v is not None}
        rule_ = self.rules.get((self.expected["status"], to))
        allowed = (
            rule_ is not None
            and self.may_act(actor, rule_[0])
            and (not rule_[1] or actor.id == self.expected["assignee_id"])
            and all(str(given.get(name) or "").strip() for name in rule_[2])
        )
        if self.attempt(allowed, lambda: self.ticket.change_status(actor, to, None, given)):
            self.expected["status"] = to
            if "assignee_id" in rule_[2]:
                self.expected["assignee_id"] = given["assignee_id"]

    @rule(data=st.data(), role=roles, internal=st.booleans())
    def reply(self, data, role, internal):
        actor = self.caller(data, role)
        allowed = self.may_act(actor, STAFF if internal else STAFF | {"reporter"})
        moves_to = REPORTER_REPLY.get(self.workflow.name, {}).get(self.expected["status"])
        move = self.reply_moves and not internal and actor.role is Role.REPORTER and moves_to
        reply = lambda: self.ticket.reply(actor, uuid4(), "any news?", internal=internal, reporter_reply_moves=self.reply_moves)  # noqa: E731
        if self.attempt(allowed, reply) and move:
            self.expected["status"] = moves_to

    @rule(data=st.data(), role=roles, priority=st.sampled_from(["low", "medium", "high", "urgent"]))
    def edit_priority(self, data, role, priority):
        actor = self.caller(data, role)
        changes = priority != self.expected["priority"]  # an edit to the same value records nothing
        if self.attempt(self.may_act(actor, STAFF), lambda: self.ticket.edit(actor, {"priority": priority}), records=changes):
            self.expected["priority"] = priority

    @rule(data=st.data(), role=roles, assignee=st.sampled_from(["tech-1", "tech-2"]))
    def transfer(self, data, role, assignee):
        actor = self.caller(data, role)
        allowed = self.may_act(actor, STAFF) and assignee != self.expected["assignee_id"]
        if self.attempt(allowed, lambda: self.ticket.transfer(actor, assignee)):
            self.expected["assignee_id"] = assignee

    @rule(data=st.data(), role=roles, chance=st.integers(0, 9))
    def archive(self, data, role, chance):
        if chance:  # archiving ends a run's interest; keep it rare
            return
        actor = self.caller(data, role)
        if self.attempt(self.may_act(actor, {"manager", "admin"}), lambda: self.ticket.archive(actor)):
            self.expected["archived"] = True

    def attempt(self, allowed: bool, command, records: bool = True) -> bool:
        """Runs the command; a refusal must leave the aggregate as it was and record nothing."""
        before = self.snapshot(self.ticket)
        try:
            command()
        except DomainError as refusal:
            assert not allowed, f"refused what the rules allow: {refusal.message}"
            assert self.snapshot(self.ticket) == before
            assert self.ticket.collect_events() == []
            return False
        assert allowed, "did what the rules forbid"
        recorded = self.ticket.collect_events()
        assert bool(recorded) == records
        assert all(e.actor_role and e.tenant == TENANT for e in recorded)
        self.events += recorded
        return True

    @staticmethod
    def snapshot(ticket: Ticket) -> dict:
        return {k: v for k, v in vars(ticket).items() if not k.startswith("_") or k == "_version"}

    @invariant()
    def the_ticket_is_what_the_rules_say(self):
        assert {k: getattr(self.ticket, k) for k in self.expected} == self.expected

    @invariant()
    def the_state_equals_the_state_rebuilt_from_its_events(self):
        assert self.snapshot(replayed(self.ticket, self.events)) == self.snapshot(self.ticket)

    @invariant()
    def every_recorded_transition_is_one_the_rules_allow_to_its_role(self):
        for changed in (e for e in self.events if isinstance(e, Ticket.StatusChanged)):
            if changed.actor_role == "reporter":
                assert REPORTER_REPLY[self.workflow.name][changed.from_status] == changed.to_status
            else:
                assert changed.actor_role in self.rules[(changed.from_status, changed.to_status)][0]
                assert changed.actor_role in MAY_HANDLE[changed.is_sensitive]


class MunicipalTicket(WorkflowTicket):
    workflow = MUNICIPAL


class FieldServiceTicket(WorkflowTicket):
    workflow = FIELD_SERVICE


class HelpdeskTicket(WorkflowTicket):
    workflow = HELPDESK


STEPS = settings(max_examples=120, stateful_step_count=30, deadline=None)
TestMunicipalTicket = MunicipalTicket.TestCase
TestMunicipalTicket.settings = STEPS
TestFieldServiceTicket = FieldServiceTicket.TestCase
TestFieldServiceTicket.settings = STEPS
TestHelpdeskTicket = HelpdeskTicket.TestCase
TestHelpdeskTicket.settings = STEPS


def test_the_rules_here_cover_every_built_in_workflow():
    assert set(RULES) == set(BUILT_IN)
    for name, workflow in BUILT_IN.items():
        assert {(t.source, t.to) for t in workflow.transitions} == set(RULES[name])


@given(workflow=st.sampled_from(list(BUILT_IN.values())), role=roles, data=st.data())
def test_the_refusal_lists_exactly_what_the_role_may_do_from_the_state(workflow, role, data):
    state = data.draw(st.sampled_from(list(workflow.states)))
    expected = [
        to
        for (source, to), (who, assignee_only, _) in RULES[workflow.name].items()
        if source == state and role.value in who and not assignee_only
    ]
    assert sorted(workflow.targets(state, role)) == sorted(expected)
