"""Random command sequences by random roles against the municipal workflow."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.permissions import STAFF, Role
from domain.workflow import MUNICIPAL
from tests.unit.helpers import actor, new_ticket, replayed

roles = st.sampled_from(list(Role))
statuses = st.sampled_from([*MUNICIPAL.states, "bogus"])


# Who may touch a ticket at all, by its sensitivity: restated here, independently of domain/.
MAY_HANDLE = {True: {Role.LIAISON, Role.ADMIN}, False: STAFF - {Role.LIAISON}}


class MunicipalTicket(RuleBasedStateMachine):
    @initialize(sensitive=st.booleans())
    def open_ticket(self, sensitive):
        self.ticket = new_ticket(is_sensitive=sensitive)
        self.events = self.ticket.collect_events()
        self.expected_status = "open"

    @rule(role=roles, to=statuses)
    def change_status(self, role, to):
        before = (self.ticket.status, self.ticket.version)
        may_handle = Role(role) in MAY_HANDLE[self.ticket.is_sensitive]
        allowed = may_handle and to in MUNICIPAL.targets(before[0], Role(role))
        try:
            self.ticket.change_status(actor(role), to)
        except DomainError:
            assert not allowed, f"{role} refused {before[0]} -> {to}"
            assert (self.ticket.status, self.ticket.version) == before
        else:
            assert allowed, f"{role} allowed {before[0]} -> {to}"
            self.expected_status = to
        self.events += self.ticket.collect_events()

    @invariant()
    def state_equals_the_state_rebuilt_from_its_events(self):
        assert self.ticket.status == self.expected_status
        rebuilt = replayed(self.ticket, self.events)
        assert (rebuilt.status, rebuilt.version) == (self.ticket.status, self.ticket.version)

    @invariant()
    def every_recorded_transition_was_allowed_for_its_role(self):
        for changed in self.events[1:]:
            assert changed.to_status in MUNICIPAL.targets(changed.from_status, Role(changed.actor_role))
            assert Role(changed.actor_role) in MAY_HANDLE[changed.is_sensitive]


TestMunicipalTicket = MunicipalTicket.TestCase
TestMunicipalTicket.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@given(state=st.sampled_from(list(MUNICIPAL.states)), role=roles)
def test_the_refusal_lists_exactly_what_the_role_may_do_from_the_state(state, role):
    targets = MUNICIPAL.targets(state, Role(role))
    if Role(role) in STAFF:
        assert targets and all(t in MUNICIPAL.states for t in targets)
    else:
        assert targets == []
