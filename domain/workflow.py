"""Workflows as data: states, their categories, and the transitions allowed between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.errors import Invalid, TransitionNotAllowed
from domain.permissions import STAFF, Role


class Category(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Transition:
    to: str
    roles: frozenset[Role] = STAFF


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    version: int
    initial: str
    states: dict[str, Category]
    transitions: dict[str, tuple[Transition, ...]] = field(default_factory=dict)

    def targets(self, state: str, role: Role) -> list[str]:
        return [t.to for t in self.transitions.get(state, ()) if role in t.roles]

    def check(self, state: str, to: str, role: Role) -> Transition:
        """The transition from `state` to `to` for `role`, or a refusal naming what is allowed."""
        if to not in self.states:
            known = ", ".join(self.states)
            raise Invalid(
                f"Unknown status '{to}' in workflow {self.name}; known: {known}.",
                code="unknown_status",
                field="status",
            )
        allowed = self.targets(state, role)
        for transition in self.transitions.get(state, ()):
            if transition.to == to and role in transition.roles:
                return transition
        choices = ", ".join(allowed) if allowed else "none"
        raise TransitionNotAllowed(
            f"A {role} may not move a ticket from {state} to {to}; "
            f"allowed from {state}: {choices}."
        )


def _municipal() -> Workflow:
    def to(*states: str) -> tuple[Transition, ...]:
        return tuple(Transition(s) for s in states)

    return Workflow(
        name="municipal",
        version=1,
        initial="open",
        states={
            "open": Category.OPEN,
            "in_progress": Category.OPEN,
            "escalated": Category.OPEN,
            "resolved": Category.RESOLVED,
            "closed": Category.CLOSED,
        },
        transitions={
            "open": to("in_progress", "escalated", "closed"),
            "in_progress": to("escalated", "resolved", "closed"),
            "escalated": to("in_progress", "resolved", "closed"),
            "resolved": to("closed", "in_progress"),
            "closed": to("open"),
        },
    )


MUNICIPAL = _municipal()
BUILT_IN: dict[str, Workflow] = {MUNICIPAL.name: MUNICIPAL}


def workflow_named(name: str) -> Workflow:
    try:
        return BUILT_IN[name]
    except KeyError:
        known = ", ".join(BUILT_IN)
        raise Invalid(f"Unknown workflow '{name}'; known: {known}.", code="unknown_workflow", field="workflow") from None
