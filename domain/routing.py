"""Routing: which team a ticket goes to (ordered rules, a fallback), and which member of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ticket_fields as fields
from domain.errors import Invalid
from domain.ids import tenant_aggregate_id
from domain.permissions import Action, Actor, require

CRITERIA = ("category", "ward", "workflow", "priority")


@dataclass(frozen=True, slots=True)
class RoutingFacts:
    """What routing looks at on a ticket."""

    category: str
    ward: str | None
    workflow: str
    priority: str
    is_sensitive: bool


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    team_id: str
    match: Mapping[str, tuple[str, ...]]  # criterion -> accepted values; a missing criterion matches anything

    def matches(self, facts: RoutingFacts) -> bool:
        return all(getattr(facts, criterion) in values for criterion, values in self.match.items())

    def reason(self) -> str:
        said = "; ".join(f"{c} is {' or '.join(v)}" for c, v in self.match.items()) or "any ticket"
        return f"rule '{self.name}' matched: {said}"


@dataclass(frozen=True, slots=True)
class Offer:
    """Where an assignment sends a ticket, and why: the audit trail keeps all of it."""

    team_id: str
    team_name: str
    team_restricted: bool
    assignee_id: str | None
    assignee_name: str | None
    rule: str | None  # the routing rule that matched, None for a manual assignment
    reason: str | None


@dataclass(frozen=True, slots=True)
class Route:
    team_id: str
    rule: str  # the matching rule's name, or "fallback"
    reason: str


def route(rules: Sequence[Rule], fallback_team_id: str | None, facts: RoutingFacts, restricted: set[str]) -> Route | None:
    """The first rule that matches; a sensitive ticket only ever goes to a restricted team."""
    allowed = (lambda team_id: team_id in restricted) if facts.is_sensitive else (lambda team_id: True)
    for rule in rules:
        if rule.matches(facts) and allowed(rule.team_id):
            return Route(rule.team_id, rule.name, rule.reason())
    if fallback_team_id and allowed(fallback_team_id):
        return Route(fallback_team_id, "fallback", "no rule matched: the fallback team")
    return None


def pick_round_robin(members: Sequence[str], rotation: int, eligible: set[str]) -> tuple[str | None, int]:
    """The next eligible member in turn after the last one served, and the rotation after the pick."""
    for step in range(len(members)):
        candidate = members[(rotation + step) % len(members)]
        if candidate in eligible:
            return candidate, rotation + step + 1
    return None, rotation


def pick_least_open(members: Sequence[str], open_counts: Mapping[str, int], eligible: set[str]) -> str | None:
    """The eligible member holding the fewest open tickets; the earlier member on a tie."""
    candidates = [m for m in members if m in eligible]
    return min(candidates, key=lambda m: (open_counts.get(m, 0), members.index(m)), default=None)


def eligible_members(members: Sequence[str], open_counts: Mapping[str, int], capacity: int | None, excluded: set[str]) -> set[str]:
    """Members who may take one more ticket: not excluded (they rejected it), not at capacity."""
    return {m for m in members if m not in excluded and (capacity is None or open_counts.get(m, 0) < capacity)}


class RoutingRules(Aggregate):
    """A tenant's ordered routing rules; each replacement is a new version."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return routing_rules_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.version_number = 0
        self.rules: list[Rule] = []
        self.fallback_team_id: str | None = None

    def replace(self, actor: Actor, rules: list[Mapping[str, Any]], fallback_team_id: str | None, teams: set[str]) -> None:
        require(actor, Action.MANAGE_TEAMS)
        checked = [_rule(i, raw, teams) for i, raw in enumerate(rules)]
        names = [r.name for r in checked]
        if len(set(names)) != len(names):
            raise Invalid("Each routing rule needs its own name.", code="duplicate_rule", field="rules")
        if fallback_team_id is not None and fallback_team_id not in teams:
            raise Invalid(f"No team {fallback_team_id} exists.", code="unknown_team", field="fallback_team_id")
        self._replaced(
            tenant=self.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            rules_version=self.version_number + 1,
            rules=[{"name": r.name, "team_id": r.team_id, **{c: list(v) for c, v in r.match.items()}} for r in checked],
            fallback_team_id=fallback_team_id,
        )

    @event("RulesReplaced")
    def _replaced(
        self, *, tenant: str, actor_id: str, actor_role: str, rules_version: int, rules: list[dict[str, Any]], fallback_team_id: str | None
    ) -> None:
        self.version_number = rules_version
        self.rules = [Rule(r["name"], r["team_id"], {c: tuple(r[c]) for c in CRITERIA if c in r}) for r in rules]
        self.fallback_team_id = fallback_team_id


def _rule(index: int, raw: Mapping[str, Any], teams: set[str]) -> Rule:
    where = f"rules[{index}]"
    team_id = str(raw.get("team_id") or "")
    if team_id not in teams:
        raise Invalid(
            f"Rule {index} sends tickets to team '{team_id}', which does not exist.", code="unknown_team", field=f"{where}.team_id"
        )
    match = {c: tuple(fields.labels(c, _as_list(raw[c]))) for c in CRITERIA if raw.get(c)}
    return Rule(fields.required_text("name", raw.get("name") or f"rule {index + 1}"), team_id, match)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def routing_rules_id(tenant: str) -> UUID:
    return tenant_aggregate_id("routing-rules", tenant)
