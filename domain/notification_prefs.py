"""Who does not want to be told: a reporter who opted out of a ticket's messages, and the
addresses on a tenant's suppression list (a number that complained, a mailbox that bounces).

Each is an aggregate of its own, one per ticket and one per (tenant, address), so that opting out
never contends with the ticket's own commands, and the notifier finds either by its id: when
none is stored, nobody opted out and nothing is suppressed. Both are events, so who stopped the
messages, and when, stays on the record.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Forbidden, Refused
from domain.permissions import Action, Actor, Role, require


class NotificationOptOut(Aggregate):
    """Whether a ticket's reporter takes its messages."""

    @staticmethod
    def create_id(ticket_id: UUID) -> UUID:
        return opt_out_id(ticket_id)

    @event("Started")
    def __init__(self, tenant: str, ticket_id: UUID) -> None:
        self.tenant = tenant
        self.ticket_id = ticket_id
        self.opted_out = False

    def change(self, actor: Actor, reporter_id: str, opted_out: bool) -> None:
        """Only the ticket's reporter speaks for their own phone and mailbox; saying the same
        again records nothing."""
        if actor.role is not Role.REPORTER or actor.id != reporter_id:
            raise Forbidden("Only the ticket's reporter may opt out of its messages, or back in.", code="not_the_reporter")
        if opted_out != self.opted_out:
            self._changed(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value, opted_out=opted_out)

    @event("OptOutChanged")
    def _changed(self, *, tenant: str, actor_id: str, actor_role: str, opted_out: bool) -> None:
        self.opted_out = opted_out


class Suppression(Aggregate):
    """One address on a tenant's suppression list, or taken off it."""

    @staticmethod
    def create_id(tenant: str, address: str) -> UUID:
        return suppression_id(tenant, address)

    @event("Started")
    def __init__(self, tenant: str, address: str) -> None:
        self.tenant = tenant
        self.address = address
        self.suppressed = False
        self.reason: str | None = None

    def suppress(self, actor: Actor, reason: str | None) -> None:
        require(actor, Action.MANAGE_NOTIFICATIONS)
        if not self.suppressed or reason != self.reason:
            self._suppressed(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value, reason=reason)

    @event("Suppressed")
    def _suppressed(self, *, tenant: str, actor_id: str, actor_role: str, reason: str | None) -> None:
        self.suppressed, self.reason = True, reason

    def lift(self, actor: Actor) -> None:
        require(actor, Action.MANAGE_NOTIFICATIONS)
        if not self.suppressed:
            raise Refused("The address is not on the suppression list.", code="not_suppressed", field="address")
        self._lifted(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value)

    @event("SuppressionLifted")
    def _lifted(self, *, tenant: str, actor_id: str, actor_role: str) -> None:
        self.suppressed, self.reason = False, None


def opt_out_id(ticket_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"docket:notification-opt-out:{ticket_id}")


def suppression_id(tenant: str, address: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"docket:suppression:{tenant}:{address}")
