"""Tracking numbers: readable, per tenant, never issued twice."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import tenant_aggregate_id


def format_tracking_number(number: int) -> str:
    return f"TKT-{number:06d}"


class TrackingNumbers(Aggregate):
    """A tenant's counter of tracking numbers as it was kept before numbers came from a PostgreSQL
    counter (commands/numbers.py): read once per tenant so that the counter starts after it."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return tracking_numbers_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.last = 0

    def issue(self) -> str:
        self._issued(number=self.last + 1)
        return format_tracking_number(self.last)

    @event("Issued")
    def _issued(self, number: int) -> None:
        self.last = number


def tracking_numbers_id(tenant: str) -> UUID:
    return tenant_aggregate_id("tracking-numbers", tenant)
