"""Workflows as data: states and their categories, an initial state, and the transitions
allowed between states, each with the roles that may take it and the fields it requires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import msgspec

from domain.errors import Invalid, TransitionNotAllowed
from domain.permissions import STAFF, Role


class Category(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # the SLA clock stops
    RESOLVED = "resolved"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Transition:
    source: str
    to: str
    roles: frozenset[Role] = STAFF
    requires: tuple[str, ...] = ()
    assignee_only: bool = False  # only the person the ticket is assigned to may take it

    def open_to(self, role: Role, is_assignee: bool) -> bool:
        return role in self.roles and (is_assignee or not self.assignee_only)


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    version: int
    initial: str
    states: Mapping[str, Category]
    transitions: tuple[Transition, ...]
    # state -> state a reporter's reply moves the ticket to, where the tenant turns that on
    reporter_reply: Mapping[str, str] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict) -> Workflow:
        # Never changed once made, so the copy of a ticket that every command works on may share it.
        return self

    def targets(self, state: str, role: Role, is_assignee: bool = False) -> list[str]:
        return [t.to for t in self.transitions if t.source == state and t.open_to(role, is_assignee)]

    def category(self, state: str) -> Category:
        return self.states[state]

    def check(self, state: str, to: str, role: Role, *, is_assignee: bool = False, fields: Mapping[str, Any] | None = None) -> Transition:
        """The transition from `state` to `to`, or a refusal that names what is allowed."""
        if to not in self.states:
            raise Invalid(
                f"Unknown status '{to}' in workflow {self.name}; known: {', '.join(self.states)}.",
                code="unknown_status",
                field="status",
            )
        candidates = [t for t in self.transitions if t.source == state and t.to == to]
        allowed = self.targets(state, role, is_assignee)
        choices = ", ".join(allowed) or "none"
        if not candidates:
            raise TransitionNotAllowed(f"A ticket cannot move from {state} to {to}; allowed from {state}: {choices}.")
        transition = candidates[0]
        if role not in transition.roles:
            who = ", ".join(sorted(transition.roles))
            raise TransitionNotAllowed(
                f"A {role} may not move a ticket from {state} to {to} (only: {who}); allowed for you from {state}: {choices}.",
                code="role_not_allowed_for_transition",
            )
        if transition.assignee_only and not is_assignee:
            raise TransitionNotAllowed(
                f"Only the person the ticket is assigned to may move it from {state} to {to}.", code="not_the_assignee"
            )
        missing = [name for name in transition.requires if not str((fields or {}).get(name) or "").strip()]
        if missing:
            raise Invalid(
                f"Moving a ticket from {state} to {to} requires {', '.join(missing)}.",
                code="missing_field",
                field=missing[0],
            )
        return transition

    def to_definition(self) -> dict[str, Any]:
        return {
            "initial": self.initial,
            "states": {name: category.value for name, category in self.states.items()},
            "transitions": [
                {"from": t.source, "to": t.to, "roles": sorted(t.roles), "requires": list(t.requires), "assignee_only": t.assignee_only}
                for t in self.transitions
            ],
            "reporter_reply": dict(self.reporter_reply),
        }


def workflow_from_definition(name: str, version: int, definition: Mapping[str, Any]) -> Workflow:
    """Builds a workflow from its stored or submitted definition, naming the first problem found."""
    if not isinstance(definition, Mapping):
        raise Invalid("A workflow definition is an object with initial, states and transitions.", code="invalid_workflow")
    states = _states(definition.get("states"))
    initial = definition.get("initial")
    if not initial:
        raise Invalid("A workflow needs an initial state.", code="invalid_workflow", field="initial")
    if initial not in states:
        raise Invalid(f"The initial state '{initial}' is not one of the states.", code="invalid_workflow", field="initial")
    transitions = tuple(_transition(i, t, states) for i, t in enumerate(definition.get("transitions") or []))
    reporter_reply = dict(definition.get("reporter_reply") or {})
    for source, target in reporter_reply.items():
        if source not in states or target not in states:
            raise Invalid(
                f"reporter_reply maps {source} to {target}, and both must be states.", code="invalid_workflow", field="reporter_reply"
            )
        if not any(t.source == source and t.to == target for t in transitions):
            raise Invalid(
                f"reporter_reply moves {source} to {target}, which is no transition of the workflow.",
                code="invalid_workflow",
                field="reporter_reply",
            )
    workflow = Workflow(name, version, initial, states, transitions, reporter_reply)
    _check_reachable(workflow)
    return workflow


def workflow_of(name: str, version: int, definition: Mapping[str, Any]) -> Workflow:
    """The workflow a ticket recorded when it was opened; built once per distinct definition (its
    JSON with sorted keys, which msgspec writes in an eighth of the standard library's time)."""
    try:
        text = msgspec.json.encode(definition, order="sorted")
    except (TypeError, msgspec.EncodeError):  # not JSON: refused by the definition's own checks
        return workflow_from_definition(name, version, definition)
    return _cached_workflow(name, version, text)


@lru_cache(maxsize=256)
def _cached_workflow(name: str, version: int, definition: bytes) -> Workflow:
    return workflow_from_definition(name, version, msgspec.json.decode(definition))


def _states(raw: Any) -> dict[str, Category]:
    if not isinstance(raw, Mapping) or not raw:
        raise Invalid("A workflow needs at least one state.", code="invalid_workflow", field="states")
    states = {}
    for name, category in raw.items():
        if category not in Category._value2member_map_:
            raise Invalid(
                f"State '{name}' has category '{category}'; one of: {', '.join(Category)}.",
                code="invalid_workflow",
                field=f"states.{name}",
            )
        states[name] = Category(category)
    return states


def _transition(index: int, raw: Mapping[str, Any], states: Mapping[str, Category]) -> Transition:
    where = f"transitions[{index}]"
    if not isinstance(raw, Mapping):
        raise Invalid(f"Transition {index} must be an object with from, to and roles.", code="invalid_workflow", field=where)
    for end in ("from", "to"):
        if raw.get(end) not in states:
            raise Invalid(
                f"Transition {index} goes {end} '{raw.get(end)}', which is not a state: a transition to nowhere.",
                code="invalid_workflow",
                field=f"{where}.{end}",
            )
    roles = raw.get("roles") or sorted(STAFF)
    unknown = [r for r in roles if r not in Role._value2member_map_]
    if unknown:
        raise Invalid(f"Unknown roles {', '.join(unknown)}; known: {', '.join(Role)}.", code="invalid_workflow", field=f"{where}.roles")
    never = [r for r in roles if Role(r) not in STAFF]
    if never:
        raise Invalid(
            f"Transition {index} names {', '.join(never)}, who never change a status; staff roles: {', '.join(sorted(STAFF))}.",
            code="invalid_workflow",
            field=f"{where}.roles",
        )
    requires = raw.get("requires") or []
    if not all(isinstance(name, str) and name for name in requires):
        raise Invalid(f"Transition {index} requires field names as text.", code="invalid_workflow", field=f"{where}.requires")
    return Transition(
        source=raw["from"],
        to=raw["to"],
        roles=frozenset(Role(r) for r in roles),
        requires=tuple(requires),
        assignee_only=bool(raw.get("assignee_only")),
    )


def _check_reachable(workflow: Workflow) -> None:
    seen, frontier = {workflow.initial}, [workflow.initial]
    while frontier:
        state = frontier.pop()
        for t in workflow.transitions:
            if t.source == state and t.to not in seen:
                seen.add(t.to)
                frontier.append(t.to)
    unreachable = [s for s in workflow.states if s not in seen]
    if unreachable:
        raise Invalid(
            f"States {', '.join(unreachable)} cannot be reached from the initial state {workflow.initial}.",
            code="invalid_workflow",
            field="states",
        )


def _built_in(name: str, initial: str, states: dict[str, str], transitions: list[dict[str, Any]], **extra: Any) -> Workflow:
    return workflow_from_definition(name, 1, {"initial": initial, "states": states, "transitions": transitions, **extra})


def _edges(graph: dict[str, list[str]], **options: Any) -> list[dict[str, Any]]:
    return [{"from": source, "to": to, **options} for source, targets in graph.items() for to in targets]


MUNICIPAL = _built_in(
    "municipal",
    "open",
    {"open": "open", "in_progress": "open", "escalated": "open", "resolved": "resolved", "closed": "closed"},
    _edges(
        {
            "open": ["in_progress", "escalated", "closed"],
            "in_progress": ["escalated", "resolved", "closed"],
            "escalated": ["in_progress", "resolved", "closed"],
            "resolved": ["closed", "in_progress"],
            "closed": ["open"],
        }
    ),
)

FIELD_SERVICE = _built_in(
    "field_service",
    "created",
    {
        "created": "open",
        "assigned": "open",
        "in_progress": "open",
        "completed": "resolved",
        "closed": "closed",
        "cancelled": "closed",
    },
    [
        {"from": "created", "to": "assigned", "roles": ["manager", "admin"], "requires": ["assignee_id"]},
        {"from": "created", "to": "cancelled", "roles": ["admin"]},
        {"from": "assigned", "to": "cancelled", "roles": ["admin"]},
        {"from": "assigned", "to": "in_progress", "assignee_only": True},
        {"from": "in_progress", "to": "completed", "assignee_only": True, "requires": ["completion_notes"]},
        {"from": "completed", "to": "closed", "roles": ["admin"]},
    ],
)

HELPDESK = _built_in(
    "helpdesk",
    "open",
    {
        "open": "open",
        "answered": "open",
        "in_progress": "open",
        "on_hold": "pending",
        "waiting_for_response": "pending",
        "resolved": "resolved",
        "closed": "closed",
    },
    _edges(
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
    reporter_reply={"waiting_for_response": "in_progress"},
)

BUILT_IN: dict[str, Workflow] = {w.name: w for w in (MUNICIPAL, FIELD_SERVICE, HELPDESK)}
