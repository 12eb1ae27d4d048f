"""SLA policies and the clock they set: response and resolution targets counted in business time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ticket_fields as fields
from domain.calendar import BusinessCalendar
from domain.errors import Invalid, NotFound
from domain.ids import tenant_aggregate_id
from domain.permissions import Action, Actor, require

KINDS = ("response", "resolution")
CRITERIA = ("workflow", "category", "priority", "ticket_type")
REOPEN = ("restart", "continue")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SLAFacts:
    """What a policy matches on."""

    workflow: str
    category: str
    priority: str
    ticket_type: str | None


@dataclass(frozen=True, slots=True)
class SLAPolicy:
    id: str
    match: Mapping[str, tuple[str, ...]]
    response_hours: float | None
    resolution_hours: float | None
    warning_threshold: float
    calendar: BusinessCalendar
    reopen: str
    is_active: bool = True  # an inactive policy keeps its place in the list and matches nothing

    def matches(self, facts: SLAFacts) -> bool:
        return self.is_active and all(getattr(facts, criterion) in values for criterion, values in self.match.items())

    def target(self, kind: str) -> timedelta | None:
        hours = self.response_hours if kind == "response" else self.resolution_hours
        return None if hours is None else timedelta(hours=hours)

    def to_definition(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **{c: list(v) for c, v in self.match.items()},
            "response_hours": self.response_hours,
            "resolution_hours": self.resolution_hours,
            "warning_threshold": self.warning_threshold,
            "calendar": self.calendar.to_definition(),
            "reopen": self.reopen,
            "is_active": self.is_active,
        }


def policy_from_definition(index: int, raw: Mapping[str, Any]) -> SLAPolicy:
    where = f"policies[{index}]"
    targets = {kind: raw.get(f"{kind}_hours") for kind in KINDS}
    for kind, hours in targets.items():
        if hours is not None and (not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0):
            raise Invalid(f"{kind}_hours is a positive number of hours, or null.", code="invalid_policy", field=f"{where}.{kind}_hours")
    if all(hours is None for hours in targets.values()):
        raise Invalid("A policy sets response_hours, resolution_hours or both.", code="invalid_policy", field=where)
    threshold = raw.get("warning_threshold", 0.8)
    if not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise Invalid(
            "warning_threshold is the share of the time elapsed, between 0 and 1.",
            code="invalid_policy",
            field=f"{where}.warning_threshold",
        )
    active = raw.get("is_active", True)
    if not isinstance(active, bool):
        raise Invalid("is_active is true or false.", code="invalid_policy", field=f"{where}.is_active")
    return SLAPolicy(
        id=fields.required_text("id", raw.get("id")),
        match={c: tuple(fields.labels(c, v if isinstance(v, list) else [v])) for c in CRITERIA if (v := raw.get(c))},
        response_hours=targets["response"],
        resolution_hours=targets["resolution"],
        warning_threshold=float(threshold),
        calendar=BusinessCalendar.from_definition(raw.get("calendar")),
        reopen=fields.one_of("reopen", raw.get("reopen", "restart"), REOPEN),
        is_active=active,
    )


@dataclass(frozen=True, slots=True)
class Clock:
    """One target's clock on one ticket: when it started, how much working time it was paused, and
    what that makes of its deadline and warning time."""

    kind: str
    start: datetime
    target: timedelta
    paused: timedelta
    calendar: BusinessCalendar
    warning_threshold: float

    @property
    def due(self) -> datetime:
        return self.calendar.add(self.start, self.target + self.paused)

    @property
    def warning_at(self) -> datetime:
        return self.calendar.add(self.start, self.target * self.warning_threshold + self.paused)

    def paused_for(self, paused_at: datetime, resumed_at: datetime) -> Clock:
        extra = self.calendar.working_time_between(paused_at, resumed_at)
        return Clock(self.kind, self.start, self.target, self.paused + extra, self.calendar, self.warning_threshold)


def clocks_for(policy: SLAPolicy, start: datetime, kinds: Sequence[str] = KINDS) -> dict[str, Clock]:
    return {
        kind: Clock(kind, start, target, timedelta(0), policy.calendar, policy.warning_threshold)
        for kind in kinds
        if (target := policy.target(kind)) is not None
    }


def clock_state(clocks: dict[str, Clock]) -> dict[str, dict[str, Any]]:
    return {
        kind: {"start": c.start, "target_seconds": c.target.total_seconds(), "paused_seconds": c.paused.total_seconds()}
        for kind, c in clocks.items()
    }


def due_fields(clocks: dict[str, Clock]) -> dict[str, datetime | None]:
    return {
        f"{kind}_{name}": (getattr(clocks[kind], attr) if kind in clocks else None)
        for kind in KINDS
        for name, attr in (("due", "due"), ("warning_at", "warning_at"))
    }


class SLAPolicies(Aggregate):
    """A tenant's ordered SLA policies: the first that matches a ticket applies. Versioned."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return sla_policies_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.policies_version = 0
        self.policies: list[SLAPolicy] = []

    def replace(self, actor: Actor, policies: list[Mapping[str, Any]]) -> None:
        require(actor, Action.DEFINE_WORKFLOWS)
        checked = [policy_from_definition(i, raw) for i, raw in enumerate(policies)]
        ids = [p.id for p in checked]
        if len(set(ids)) != len(ids):
            raise Invalid("Each policy needs its own id.", code="duplicate_policy", field="policies")
        self._replaced(
            tenant=self.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            policies_version=self.policies_version + 1,
            policies=[p.to_definition() for p in checked],
        )

    def put_policy(self, actor: Actor, policy_id: str, raw: Mapping[str, Any]) -> None:
        """Creates or replaces one policy: in its place when the set has it, else last. A new
        version of the whole set, as a replacement of the list is."""
        definitions = [p.to_definition() for p in self.policies]
        given = {**raw, "id": policy_id}
        at = next((i for i, p in enumerate(self.policies) if p.id == policy_id), None)
        if at is None:
            definitions.append(given)
        else:
            definitions[at] = given
        self.replace(actor, definitions)

    def remove_policy(self, actor: Actor, policy_id: str) -> None:
        require(actor, Action.DEFINE_WORKFLOWS)
        if all(p.id != policy_id for p in self.policies):
            raise NotFound(f"No SLA policy {policy_id} exists.", code="policy_not_found", field="policy_id")
        self.replace(actor, [p.to_definition() for p in self.policies if p.id != policy_id])

    @event("PoliciesReplaced")
    def _replaced(self, *, tenant: str, actor_id: str, actor_role: str, policies_version: int, policies: list[dict[str, Any]]) -> None:
        self.policies_version = policies_version
        self.policies = [policy_from_definition(i, raw) for i, raw in enumerate(policies)]

    def policy_for(self, facts: SLAFacts) -> SLAPolicy | None:
        return next((p for p in self.policies if p.matches(facts)), None)


def sla_policies_id(tenant: str) -> UUID:
    return tenant_aggregate_id("sla-policies", tenant)
