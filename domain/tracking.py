"""Tracking numbers: readable, per tenant, never issued twice."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class TrackingNumbers(Aggregate):
    """A tenant's counter of tracking numbers: saved with each new ticket, so none is issued twice."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return tracking_numbers_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.last = 0

    def issue(self) -> str:
        self._issued(number=self.last + 1)
        return f"TKT-{self.last:06d}"

    @event("Issued")
    def _issued(self, number: int) -> None:
        self.last = number


def tracking_numbers_id(tenant: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"docket:tracking-numbers:{tenant}")
