"""What SLA compliance would have been under other policies, beside what was recorded.

Each ticket's clock is run again over what really happened to it (its opening, each move between
status categories, each public staff reply, each change of category or priority), with the same
rules and the same clock arithmetic (domain/sla.py) as the Ticket aggregate, but the first of the
other policies that matches. What was recorded is read from its SLA events. A ticket counts as met
when every target it had was met in time, breached when any was missed (or is past its deadline
and neither met nor paused), and not yet decided otherwise; compliance is met / (met + breached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.permissions import STAFF
from domain.sla import Clock, SLAFacts, SLAPolicy, clocks_for
from domain.ticket import Ticket

STAFF_ROLES = {role.value for role in STAFF}
PENDING, DONE = "pending", ("resolved", "closed")
MET, BREACHED, OPEN = "met", "breached", "open"


@dataclass
class RecordedClock:
    """A ticket's SLA as its events recorded it."""

    due: dict[str, datetime | None] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)
    paused: bool = False

    def outcomes(self, now: datetime) -> dict[str, str]:
        return {kind: self.outcome.get(kind) or _overdue(due, self.paused, now) for kind, due in self.due.items() if due is not None}


@dataclass
class ReplayedClock:
    """A ticket's SLA run again under another policy."""

    policy: SLAPolicy | None
    opened: datetime
    clocks: dict[str, Clock] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)
    paused_at: datetime | None = None

    def moved(self, at: datetime, from_category: str, to_category: str, by_staff: bool) -> None:
        """As Ticket._clocks_after_move: pause or resume, then what the move meets, then a restart on reopening."""
        running = [kind for kind in self.clocks if kind not in self.outcome]
        if to_category == PENDING and from_category != PENDING and running:
            self.paused_at = at
        elif from_category == PENDING and to_category != PENDING and self.paused_at is not None:
            self.clocks.update({kind: self.clocks[kind].paused_for(self.paused_at, at) for kind in running})
            self.paused_at = None
        if by_staff:
            self.meet("response", at)
        if to_category in DONE:
            self.meet("resolution", at)
        if from_category in DONE and to_category not in DONE and self.policy and self.policy.reopen == "restart":
            for kind, clock in clocks_for(self.policy, at, ["resolution"]).items():
                self.clocks[kind] = clock
                self.outcome.pop(kind, None)

    def meet(self, kind: str, at: datetime) -> None:
        if kind in self.clocks and kind not in self.outcome:
            self.outcome[kind] = MET if at <= self.clocks[kind].due else BREACHED

    def rematched(self, policy: SLAPolicy | None) -> None:
        """As Ticket.recompute_sla: the new policy's targets from the same starts and pauses, for
        the targets not yet met; no matching policy changes nothing."""
        if policy is None:
            return
        fresh = clocks_for(policy, self.opened)
        self.policy = policy
        for kind, clock in fresh.items():
            if kind in self.outcome:
                continue
            old = self.clocks.get(kind)
            start, paused = (old.start, old.paused) if old else (self.opened, timedelta(0))
            self.clocks[kind] = Clock(kind, start, clock.target, paused, policy.calendar, policy.warning_threshold)

    def outcomes(self, now: datetime) -> dict[str, str]:
        return {kind: self.outcome.get(kind) or _overdue(c.due, self.paused_at is not None, now) for kind, c in self.clocks.items()}


@dataclass
class TicketClocks:
    facts: dict[str, Any]
    day: date
    recorded: RecordedClock
    replayed: ReplayedClock


@dataclass
class Tally:
    met: int = 0
    breached: int = 0
    undecided: int = 0

    @property
    def compliance_percent(self) -> float | None:
        decided = self.met + self.breached
        return round(100 * self.met / decided, 2) if decided else None

    def add(self, outcomes: dict[str, str]) -> None:
        if BREACHED in outcomes.values():
            self.breached += 1
        elif outcomes and all(o == MET for o in outcomes.values()):
            self.met += 1
        elif outcomes:
            self.undecided += 1


@dataclass(frozen=True)
class ReplayRow:
    category: str
    priority: str
    recorded: Tally
    replayed: Tally


class SLAReplay:
    """Fed a tenant's ticket events in order; `rows` then compares, per category and priority."""

    def __init__(self, policies: Sequence[SLAPolicy], since: date | None = None, until: date | None = None) -> None:
        self.policies = list(policies)
        self.since, self.until = since, until
        self.tickets: dict[UUID, TicketClocks] = {}

    def apply(self, e: Any) -> None:
        if isinstance(e, Ticket.Opened):
            self._opened(e)
            return
        ticket = self.tickets.get(e.originator_id)
        if ticket is None:
            return
        if isinstance(e, Ticket.StatusChanged):
            ticket.replayed.moved(e.timestamp, e.from_category, e.to_category, e.actor_role in STAFF_ROLES)
        elif isinstance(e, Ticket.ReplyAdded) and not e.internal and e.actor_role in STAFF_ROLES:
            ticket.replayed.meet("response", e.timestamp)
        elif isinstance(e, Ticket.Edited):
            self._edited(ticket, e)
        self._record(ticket.recorded, e)

    def rows(self, now: datetime) -> list[ReplayRow]:
        groups: dict[tuple[str, str], ReplayRow] = {}
        for ticket in self.tickets.values():
            if (self.since and ticket.day < self.since) or (self.until and ticket.day > self.until):
                continue
            key = (ticket.facts["category"], ticket.facts["priority"])
            row = groups.setdefault(key, ReplayRow(*key, Tally(), Tally()))
            row.recorded.add(ticket.recorded.outcomes(now))
            row.replayed.add(ticket.replayed.outcomes(now))
        return [groups[key] for key in sorted(groups)]

    def _opened(self, e: Any) -> None:
        facts = {"workflow": e.workflow, "category": e.category, "priority": e.priority, "ticket_type": e.ticket_type}
        policy = self._policy(facts)
        replayed = ReplayedClock(policy, e.timestamp, clocks_for(policy, e.timestamp) if policy else {})
        self.tickets[e.originator_id] = TicketClocks(facts, e.timestamp.date(), RecordedClock(), replayed)

    def _edited(self, ticket: TicketClocks, e: Any) -> None:
        changed = {name: e.changes[name]["new"] for name in ("category", "priority", "ticket_type") if name in e.changes}
        if changed:
            ticket.facts.update(changed)
            ticket.replayed.rematched(self._policy(ticket.facts))

    def _policy(self, facts: dict[str, Any]) -> SLAPolicy | None:
        matched = SLAFacts(facts["workflow"], facts["category"], facts["priority"], facts["ticket_type"])
        return next((p for p in self.policies if p.matches(matched)), None)

    @staticmethod
    def _record(recorded: RecordedClock, e: Any) -> None:
        if isinstance(e, Ticket.SLADeadlinesSet | Ticket.SLAResumed):
            for kind in e.clocks:
                recorded.due[kind] = getattr(e, f"{kind}_due")
                if isinstance(e, Ticket.SLADeadlinesSet):
                    recorded.outcome.pop(kind, None)
            recorded.paused = False
        elif isinstance(e, Ticket.SLAPaused):
            recorded.paused = True
        elif isinstance(e, Ticket.SLAMet):
            recorded.outcome[e.kind] = MET if e.on_time else BREACHED
        elif isinstance(e, Ticket.SLABreached):
            recorded.outcome[e.kind] = BREACHED


def _overdue(due: datetime | None, paused: bool, now: datetime) -> str:
    """A target neither met nor missed yet: breached once its deadline has passed (as the read
    model's sla_status counts it), unless its clock is stopped."""
    return BREACHED if due is not None and not paused and due <= now else OPEN
