"""The Ticket aggregate. Every change is an event that names tenant, actor and role."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Invalid
from domain.permissions import Action, Actor, TicketFacts, ensure_visible, require
from domain.workflow import Workflow, workflow_named

PRIORITIES = ("low", "medium", "high", "urgent")


class Ticket(Aggregate):
    @event("Opened")
    def __init__(
        self,
        *,
        tenant: str,
        actor_id: str,
        actor_role: str,
        tracking_number: str,
        workflow: str,
        workflow_version: int,
        status: str,
        title: str,
        description: str,
        category: str,
        priority: str,
        ward: str | None,
        location: dict[str, float] | None,
        is_sensitive: bool = False,
    ) -> None:
        self.tenant = tenant
        self.reporter_id = actor_id
        self.tracking_number = tracking_number
        self.workflow_name = workflow
        self.workflow_version = workflow_version
        self.status = status
        self.title = title
        self.description = description
        self.category = category
        self.priority = priority
        self.ward = ward
        self.location = location
        self.is_sensitive = is_sensitive

    @classmethod
    def open(cls, actor: Actor, tracking_number: str, workflow: Workflow, **details: Any) -> Ticket:
        require(actor, Action.OPEN_TICKET)
        _check_details(details)
        details.setdefault("is_sensitive", False)
        return cls(
            tenant=actor.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            tracking_number=tracking_number,
            workflow=workflow.name,
            workflow_version=workflow.version,
            status=workflow.initial,
            **details,
        )

    @property
    def workflow(self) -> Workflow:
        return workflow_named(self.workflow_name)

    @property
    def facts(self) -> TicketFacts:
        return TicketFacts(tenant=self.tenant, reporter_id=self.reporter_id, ward=self.ward, is_sensitive=self.is_sensitive)

    def ensure_visible_to(self, actor: Actor) -> None:
        ensure_visible(actor, self.id, self.facts)

    def change_status(self, actor: Actor, to_status: str, note: str | None = None) -> None:
        self.ensure_visible_to(actor)
        require(actor, Action.CHANGE_STATUS)
        self.workflow.check(self.status, to_status, actor.role)
        self._status_changed(
            tenant=self.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            from_status=self.status,
            to_status=to_status,
            note=note,
            is_sensitive=self.is_sensitive,
        )

    # Every event repeats `is_sensitive`, so whoever reads one event alone (the relay, a
    # dashboard projection) can keep a sensitive ticket's events to sensitive channels.
    @event("StatusChanged")
    def _status_changed(
        self,
        *,
        tenant: str,
        actor_id: str,
        actor_role: str,
        from_status: str,
        to_status: str,
        note: str | None,
        is_sensitive: bool = False,
    ) -> None:
        self.status = to_status


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


def _check_details(details: dict[str, Any]) -> None:
    for name in ("title", "description", "category"):
        if not str(details.get(name) or "").strip():
            raise Invalid(f"The {name} must not be empty.", code="missing_field", field=name)
    if details.get("priority") not in PRIORITIES:
        raise Invalid(
            f"Unknown priority '{details.get('priority')}'; one of: {', '.join(PRIORITIES)}.",
            code="unknown_priority",
            field="priority",
        )
    location = details.get("location")
    if location is not None and not (-90 <= location["lat"] <= 90 and -180 <= location["lon"] <= 180):
        raise Invalid("A location needs lat within -90..90 and lon within -180..180.", code="bad_location", field="location")
