"""The Ticket aggregate. Every change is an event that names tenant, actor and role, and
repeats `is_sensitive` so that whoever reads one event alone (the relay, a dashboard
projection) can keep a sensitive ticket's events to sensitive channels."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ticket_fields as rules
from domain.calendar import BusinessCalendar
from domain.errors import Forbidden, Invalid, Refused, TicketNotFound
from domain.permissions import STAFF, Action, Actor, Role, TicketFacts, ensure_visible, require
from domain.routing import Offer
from domain.sla import Clock, SLAFacts, SLAPolicy, clock_state, clocks_for, due_fields, policy_from_definition, utc_now
from domain.workflow import Category, Workflow, workflow_of

ATTACHMENT_KINDS = ("ticket", "completion")
ASSIGNED = "assigned"
ERASED = "[erased]"
# The person behind a ticket: what erasure removes for good (commands/personal_data.py).
PERSONAL_FIELDS = frozenset({"reporter_name", "reporter_phone", "reporter_email", "address", "location"})
ESCALATED = "escalated"
SYSTEM_ID, SYSTEM_ROLE = "docket", "system"


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
        workflow_definition: dict[str, Any],
        status: str,
        title: str,
        description: str,
        category: str,
        priority: str,
        severity: str | None,
        ticket_type: str | None,
        reporter_id: str,
        reporter_name: str | None,
        reporter_phone: str | None,
        reporter_email: str | None,
        location: dict[str, float] | None,
        address: str | None,
        ward: str | None,
        tags: list[str],
        watchers: list[str],
        custom_fields: dict[str, Any],
        is_sensitive: bool,
    ) -> None:
        self.tenant = tenant
        self.tracking_number = tracking_number
        self.workflow = workflow_of(workflow, workflow_version, workflow_definition)
        self.status = status
        self.title, self.description, self.category = title, description, category
        self.priority, self.severity, self.ticket_type = priority, severity, ticket_type
        self.reporter_id = reporter_id
        self.reporter_name, self.reporter_phone, self.reporter_email = reporter_name, reporter_phone, reporter_email
        self.location, self.address, self.ward = location, address, ward
        self.tags, self.watchers, self.custom_fields = tags, watchers, custom_fields
        self.is_sensitive = is_sensitive
        self.erased = False  # the reporter's personal data erased for good
        self.team_id: str | None = None
        self.assignee_id: str | None = None
        self.accepted = False
        self.rejected_by: set[str] = set()  # who turned this ticket down: not offered it again
        self.archived = False
        self.reopen_count = 0
        self.attachments: dict[str, str] = {}  # attachment id -> content hash
        self.sla_policy: dict[str, Any] | None = None  # the policy as it was when it was applied
        self.sla_policy_version = 0
        self.sla_clocks: dict[str, dict[str, Any]] = {}  # kind -> start, target and paused seconds
        self.sla_deadlines: dict[str, datetime] = {}
        self.sla_warnings: dict[str, datetime] = {}
        self.sla_met: set[str] = set()
        self.sla_breached: set[str] = set()
        self.sla_paused_at: datetime | None = None
        self.escalation_level = 0

    @classmethod
    def open(cls, actor: Actor, tracking_number: str, workflow: Workflow, **details: Any) -> Ticket:
        require(actor, Action.OPEN_TICKET)
        return cls(
            tenant=actor.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            tracking_number=tracking_number,
            workflow=workflow.name,
            workflow_version=workflow.version,
            workflow_definition=workflow.to_definition(),
            status=workflow.initial,
            **rules.opening_record(actor, details),
        )

    @property
    def facts(self) -> TicketFacts:
        return TicketFacts(
            tenant=self.tenant,
            reporter_id=self.reporter_id,
            ward=self.ward,
            is_sensitive=self.is_sensitive,
            workflow=self.workflow.name,
            team_id=self.team_id,
            assignee_id=self.assignee_id,
        )

    @property
    def sla_facts(self) -> SLAFacts:
        return SLAFacts(self.workflow.name, self.category, self.priority, self.ticket_type)

    def ensure_visible_to(self, actor: Actor) -> None:
        ensure_visible(actor, self.id, self.facts)

    # Status

    def change_status(
        self, actor: Actor, to_status: str, note: str | None = None, values: dict[str, Any] | None = None, note_public: bool = False
    ) -> None:
        """`note_public`: the note is for the reporter too; else it is for staff alone."""
        self._allow(actor, Action.CHANGE_STATUS)
        transition = self.workflow.check(self.status, to_status, actor.role, is_assignee=actor.id == self.assignee_id, fields=values or {})
        recorded = {name: str((values or {})[name]).strip() for name in transition.requires}
        self._move(actor, to_status, note, recorded, note_public)

    def _move(self, actor: Actor, to_status: str, note: str | None, values: dict[str, Any], note_public: bool = False) -> None:
        self._move_as(self._stamp(actor), actor.role in STAFF, to_status, note, values, note_public)

    def _move_as(
        self, stamp: dict[str, Any], by_staff: bool, to_status: str, note: str | None, values: dict[str, Any], note_public: bool = False
    ) -> None:
        """Records the move, then what it means for the SLA clocks."""
        from_category, to_category = self.workflow.category(self.status), self.workflow.category(to_status)
        self._status_changed(
            **stamp,
            from_status=self.status,
            to_status=to_status,
            from_category=from_category.value,
            to_category=to_category.value,
            note=note,
            fields=values,
            note_public=note_public and note is not None,
        )
        self._clocks_after_move(stamp, by_staff, from_category, to_category)

    @event("StatusChanged")
    def _status_changed(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool,
        from_status: str, to_status: str, from_category: str, to_category: str, note: str | None, fields: dict[str, Any],
        note_public: bool = False,  # events stored before staff could make a note public carry none
    ) -> None:  # fmt: skip
        if from_category in (Category.RESOLVED, Category.CLOSED) and to_category in (Category.OPEN, Category.PENDING):
            self.reopen_count += 1
        self.status = to_status
        self.assignee_id = fields.get("assignee_id", self.assignee_id)

    # Conversation

    def reply(
        self,
        actor: Actor,
        reply_id: UUID,
        body: str,
        *,
        internal: bool = False,
        is_solution: bool = False,
        reporter_reply_moves: bool = False,
    ) -> None:
        self._allow(actor, Action.ADD_INTERNAL_NOTE if internal else Action.REPLY)
        if is_solution and actor.role not in STAFF:
            raise Forbidden("Only staff may mark a reply as the solution.", code="role_not_allowed", field="is_solution")
        self._reply_added(
            **self._stamp(actor), reply_id=reply_id, body=rules.required_text("body", body), internal=internal, is_solution=is_solution
        )
        if actor.role in STAFF and not internal:
            self._meet(self._stamp(actor), "response")
        reopens_to = self.workflow.reporter_reply.get(self.status)
        if reporter_reply_moves and reopens_to and not internal and actor.id == self.reporter_id and actor.role is Role.REPORTER:
            self._move(actor, reopens_to, "The reporter replied.", {})

    @event("ReplyAdded")
    def _reply_added(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool,
        reply_id: UUID, body: str, internal: bool, is_solution: bool,
    ) -> None:  # fmt: skip
        pass

    # The record

    def edit(self, actor: Actor, changes: dict[str, Any]) -> None:
        """Records the fields whose value changes, old and new; an edit that changes nothing records nothing."""
        self._allow(actor, Action.EDIT_TICKET)
        if self.erased and (personal := PERSONAL_FIELDS & changes.keys()):
            raise Refused("The reporter of this ticket was erased; their details are not kept again.", code="erased", field=min(personal))
        checked = {name: rules.edited_value(name, value) for name, value in changes.items()}
        diff = {name: {"old": getattr(self, name), "new": new} for name, new in checked.items() if getattr(self, name) != new}
        if diff:
            self._edited(**self._stamp(actor), changes=diff)

    @event("Edited")
    def _edited(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, changes: dict[str, Any]) -> None:
        for name, change in changes.items():
            setattr(self, name, change["new"])

    def transfer(self, actor: Actor, to_assignee: str, reason: str | None = None) -> None:
        self._allow(actor, Action.TRANSFER)
        to_assignee = rules.required_text("assignee_id", to_assignee)
        if to_assignee == self.assignee_id:
            raise Refused(f"The ticket is already with {to_assignee}.", code="already_assigned", field="assignee_id")
        self._transferred(**self._stamp(actor), from_assignee=self.assignee_id, to_assignee=to_assignee, reason=reason)

    @event("Transferred")
    def _transferred(
        self,
        *,
        tenant: str,
        actor_id: str,
        actor_role: str,
        is_sensitive: bool,
        from_assignee: str | None,
        to_assignee: str,
        reason: str | None,
    ) -> None:
        self.assignee_id, self.accepted = to_assignee, False

    # Assignment

    def assign(self, actor: Actor, offer: Offer) -> None:
        """Gives the ticket to a team (and a member of it, unless it waits in the team's queue)."""
        self._allow(actor, Action.ASSIGN)
        self._give(self._stamp(actor), actor.role in STAFF, offer)

    def route_on_opening(self, offer: Offer) -> None:
        """Routing by the tenant's rules as the ticket opens, which the tenant's admin turned on:
        recorded as Docket's doing, not the opener's."""
        if not self._being_opened():
            raise Refused("Only a ticket being opened is routed on opening.", code="not_opening")
        self._give(self._system_stamp(), False, offer)

    def _being_opened(self) -> bool:
        """Not stored yet and not routed yet. Not its version: what the opening itself records before
        routing (the SLA clocks of a matching policy) leaves the ticket no less new."""
        pending = self.pending_events
        return bool(pending) and isinstance(pending[0], Ticket.Opened) and self.team_id is None

    def reroute(self, offer: Offer) -> None:
        """A ticket made sensitive goes to a restricted team, by the tenant's rules: Docket's doing."""
        self._give(self._system_stamp(), False, offer)

    def _give(self, stamp: dict[str, Any], by_staff: bool, offer: Offer) -> None:
        if self.is_sensitive and not offer.team_restricted:
            raise Refused(
                f"A sensitive ticket may only go to a restricted team; {offer.team_name} is not one.",
                code="team_not_restricted",
                field="team_id",
            )
        self._offer(stamp, offer)
        # Where the workflow has a state for being with someone (field service), the ticket enters it.
        if offer.assignee_id and any(t.source == self.status and t.to == ASSIGNED for t in self.workflow.transitions):
            self._move_as(stamp, by_staff, ASSIGNED, offer.reason, {"assignee_id": offer.assignee_id})

    def _offer(self, stamp: dict[str, Any], offer: Offer) -> None:
        self._assigned(
            **stamp,
            from_team_id=self.team_id,
            from_assignee_id=self.assignee_id,
            team_id=offer.team_id,
            team_name=offer.team_name,
            assignee_id=offer.assignee_id,
            assignee_name=offer.assignee_name,
            rule=offer.rule,
            reason=offer.reason,
        )

    @event("Assigned")
    def _assigned(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, from_team_id: str | None, from_assignee_id: str | None, team_id: str, team_name: str,
        assignee_id: str | None, assignee_name: str | None, rule: str | None, reason: str | None,
    ) -> None:  # fmt: skip
        self.team_id, self.assignee_id, self.accepted = team_id, assignee_id, False

    def accept(self, actor: Actor) -> None:
        self._allow_assignee(actor)
        if self.accepted:
            raise Refused("You have already accepted this ticket.", code="already_accepted")
        self._accepted(**self._stamp(actor))

    @event("AssignmentAccepted")
    def _accepted(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool) -> None:
        self.accepted = True

    def reject(self, actor: Actor, reason: str, next_offer: Offer | None = None) -> None:
        """The assignee turns the ticket down; it goes back to the team's queue or to `next_offer`."""
        self._allow_assignee(actor)
        self._rejected(**self._stamp(actor), reason=rules.required_text("reason", reason))
        if next_offer is not None:
            self._offer(self._system_stamp(), next_offer)  # the team's strategy offers it on

    @event("AssignmentRejected")
    def _rejected(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, reason: str) -> None:
        self.rejected_by.add(actor_id)
        self.assignee_id, self.accepted = None, False

    def unassign(self, actor: Actor, reason: str | None = None) -> None:
        self._allow(actor, Action.UNASSIGN)
        if self.assignee_id is None:
            raise Refused("The ticket has no assignee to take it from.", code="not_assigned")
        self._unassigned(**self._stamp(actor), from_assignee=self.assignee_id, reason=reason)

    @event("Unassigned")
    def _unassigned(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, from_assignee: str, reason: str | None
    ) -> None:
        self.assignee_id, self.accepted = None, False

    def _allow_assignee(self, actor: Actor) -> None:
        self._allow(actor, Action.READ_TICKETS)
        if actor.id != self.assignee_id:
            raise Forbidden("Only the person the ticket is assigned to may accept or reject it.", code="not_the_assignee")

    def mark_sensitive(self, actor: Actor, reason: str, *, keeps_team: bool, keeps_assignee: bool) -> None:
        """Makes the ticket sensitive, for good: from now on it is as if it had always been. A team
        that may not hold it (not restricted) and an assignee who may not read it let it go.
        Any of the tenant's staff allowed to may do it, the liaison included, who cannot read the
        ticket before: it only narrows who can."""
        if actor.tenant != self.tenant:
            raise TicketNotFound(self.id)
        require(actor, Action.MARK_SENSITIVE)
        if self.is_sensitive:
            raise Refused(f"Ticket {self.tracking_number} is sensitive already.", code="already_sensitive")
        self._marked_sensitive(
            **{**self._stamp(actor), "is_sensitive": True},
            reason=rules.required_text("reason", reason),
            team_released=self.team_id is not None and not keeps_team,
            assignee_released=self.assignee_id is not None and not (keeps_team and keeps_assignee),
        )

    @event("MarkedSensitive")
    def _marked_sensitive(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, reason: str, team_released: bool, assignee_released: bool
    ) -> None:
        self.is_sensitive = True
        if team_released:
            self.team_id = None
        if assignee_released:
            self.assignee_id, self.accepted = None, False

    def erase(self, actor: Actor, reason: str) -> None:
        """Erases the reporter for good: their name, phone, email, the address and the location.
        The events stay; the ticket's key, which alone opens those fields in them, goes (the use case
        deletes it once this is saved)."""
        self._allow(actor, Action.ERASE, archived_too=True)
        if self.erased:
            raise Refused(f"Ticket {self.tracking_number}'s reporter is erased already.", code="already_erased")
        self._erased(**self._stamp(actor), reason=rules.required_text("reason", reason))

    @event("Erased")
    def _erased(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, reason: str) -> None:
        for name in PERSONAL_FIELDS:
            setattr(self, name, ERASED)
        self.erased = True

    def archive(self, actor: Actor, reason: str | None = None) -> None:
        self._allow(actor, Action.ARCHIVE)
        self._archived(**self._stamp(actor), reason=reason)

    @event("Archived")
    def _archived(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, reason: str | None) -> None:
        self.archived = True

    def redact(self, actor: Actor, field: str, reason: str) -> None:
        # Personal data must be erasable from archived tickets too.
        self._allow(actor, Action.REDACT, archived_too=True)
        if field not in rules.REDACTABLE:
            raise Invalid(f"'{field}' cannot be redacted; redactable: {', '.join(rules.REDACTABLE)}.", code="not_redactable", field="field")
        if getattr(self, field) is None:
            raise Refused(f"The ticket holds no {field} to redact.", code="nothing_to_redact", field="field")
        self._redacted(**self._stamp(actor), field=field, reason=rules.required_text("reason", reason))

    @event("FieldRedacted")
    def _redacted(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, field: str, reason: str) -> None:
        setattr(self, field, None)

    def attach(
        self, actor: Actor, attachment_id: UUID, *, sha256: str, name: str, content_type: str, size: int, kind: str = "ticket"
    ) -> None:
        self._allow(actor, Action.ATTACH)
        rules.one_of("kind", kind, ATTACHMENT_KINDS)
        self._attachment_added(
            **self._stamp(actor), attachment_id=attachment_id, sha256=sha256, name=name, content_type=content_type, size=size, kind=kind
        )

    @event("AttachmentAdded")
    def _attachment_added(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool,
        attachment_id: UUID, sha256: str, name: str, content_type: str, size: int, kind: str,
    ) -> None:  # fmt: skip
        self.attachments[str(attachment_id)] = sha256

    # SLA: deadlines are events, so replaying a ticket gives its deadlines whatever the policy became.

    def start_sla(self, policy: SLAPolicy, version: int) -> None:
        """The policy that applies at opening: its clocks run from the opening."""
        self._set_deadlines(self._system_stamp(), policy, version, "opened", clocks_for(policy, self.created_on))

    def recompute_sla(self, actor: Actor, policy: SLAPolicy | None, version: int, reason: str) -> None:
        """After a change of priority or category: the matching policy's targets, from the same starts
        and pauses, for the targets not yet met."""
        if policy is None:
            return
        starts = {kind: self._clock(kind) for kind in self.sla_clocks}
        clocks = {
            kind: Clock(
                kind,
                old.start if (old := starts.get(kind)) else self.created_on,
                fresh.target,
                old.paused if old else timedelta(0),
                policy.calendar,
                policy.warning_threshold,
            )
            for kind, fresh in clocks_for(policy, self.created_on).items()
            if kind not in self.sla_met
        }
        if clocks:
            self._set_deadlines(self._stamp(actor), policy, version, reason, clocks)

    def breach_sla(self, kind: str, now: datetime) -> bool:
        """Records a missed deadline and escalates, if the deadline really passed and was neither met,
        paused nor breached before: two schedulers, or a late timer, never breach twice."""
        due = self.sla_deadlines.get(kind)
        if due is None or kind in self.sla_met or kind in self.sla_breached or self.sla_paused_at or now < due or self.archived:
            return False
        stamp = self._system_stamp()
        self._sla_breached(**stamp, kind=kind, due=due, at=now)
        reason = f"The {kind} deadline {due.isoformat()} passed."
        self._escalated(**stamp, level=self.escalation_level + 1, reason=reason)
        if any(t.source == self.status and t.to == ESCALATED for t in self.workflow.transitions):
            self._move_as(stamp, False, ESCALATED, reason, {})
        return True

    def _clocks_after_move(self, stamp: dict[str, Any], by_staff: bool, from_category: Category, to_category: Category) -> None:
        pending = Category.PENDING
        if to_category == pending and from_category != pending and self._running():
            self._sla_paused(**stamp, at=utc_now())
        elif from_category == pending and to_category != pending and self.sla_paused_at is not None:
            self._resume(stamp)
        if by_staff:
            self._meet(stamp, "response")
        if to_category in (Category.RESOLVED, Category.CLOSED):
            self._meet(stamp, "resolution")
        reopened = from_category in (Category.RESOLVED, Category.CLOSED) and to_category in (Category.OPEN, Category.PENDING)
        if reopened and self.sla_policy and self.sla_policy["reopen"] == "restart":
            policy = policy_from_definition(0, self.sla_policy)
            restarted = clocks_for(policy, utc_now(), ["resolution"])
            if restarted:
                self._set_deadlines(stamp, policy, self.sla_policy_version, "reopened", restarted)

    def _running(self) -> list[str]:
        return [kind for kind in self.sla_deadlines if kind not in self.sla_met]

    def _resume(self, stamp: dict[str, Any]) -> None:
        now = utc_now()
        clocks = {kind: self._clock(kind).paused_for(self.sla_paused_at, now) for kind in self._running()}
        self._sla_resumed(**stamp, at=now, clocks=clock_state(clocks), **due_fields(clocks))

    def _meet(self, stamp: dict[str, Any], kind: str) -> None:
        if kind in self.sla_deadlines and kind not in self.sla_met:
            now = utc_now()
            self._sla_met(**stamp, kind=kind, at=now, on_time=kind not in self.sla_breached and now <= self.sla_deadlines[kind])

    def _set_deadlines(self, stamp: dict[str, Any], policy: SLAPolicy, version: int, reason: str, clocks: dict[str, Clock]) -> None:
        self._deadlines_set(
            **stamp,
            policy_id=policy.id,
            policy_version=version,
            policy=policy.to_definition(),
            reason=reason,
            clocks=clock_state(clocks),
            **due_fields(clocks),
        )

    def _clock(self, kind: str) -> Clock:
        state, policy = self.sla_clocks[kind], self.sla_policy or {}
        return Clock(
            kind,
            state["start"],
            timedelta(seconds=state["target_seconds"]),
            timedelta(seconds=state["paused_seconds"]),
            BusinessCalendar.from_definition(policy.get("calendar")),
            policy.get("warning_threshold", 0.8),
        )

    @event("SLADeadlinesSet")
    def _deadlines_set(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, policy_id: str, policy_version: int,
        policy: dict[str, Any], reason: str, clocks: dict[str, Any], response_due: datetime | None, resolution_due: datetime | None,
        response_warning_at: datetime | None, resolution_warning_at: datetime | None,
    ) -> None:  # fmt: skip
        self.sla_policy, self.sla_policy_version = policy, policy_version
        self._take_clocks(clocks, response_due, resolution_due, response_warning_at, resolution_warning_at)
        self.sla_met -= set(clocks)
        self.sla_breached -= set(clocks)

    @event("SLAPaused")
    def _sla_paused(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, at: datetime) -> None:
        self.sla_paused_at = at

    @event("SLAResumed")
    def _sla_resumed(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, at: datetime, clocks: dict[str, Any],
        response_due: datetime | None, resolution_due: datetime | None, response_warning_at: datetime | None, resolution_warning_at: datetime | None,
    ) -> None:  # fmt: skip
        self.sla_paused_at = None
        self._take_clocks(clocks, response_due, resolution_due, response_warning_at, resolution_warning_at)

    @event("SLAMet")
    def _sla_met(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, kind: str, at: datetime, on_time: bool) -> None:
        self.sla_met.add(kind)

    @event("SLABreached")
    def _sla_breached(
        self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, kind: str, due: datetime, at: datetime
    ) -> None:
        self.sla_breached.add(kind)

    @event("Escalated")
    def _escalated(self, *, tenant: str, actor_id: str, actor_role: str, is_sensitive: bool, level: int, reason: str) -> None:
        self.escalation_level = level

    def _take_clocks(self, clocks: dict[str, Any], *due_and_warnings: datetime | None) -> None:
        response_due, resolution_due, response_warning_at, resolution_warning_at = due_and_warnings
        self.sla_clocks.update(clocks)
        for kind, due, warning in (("response", response_due, response_warning_at), ("resolution", resolution_due, resolution_warning_at)):
            if kind in clocks:
                self.sla_deadlines[kind], self.sla_warnings[kind] = due, warning

    def _system_stamp(self) -> dict[str, Any]:
        """Changes the ticket makes of itself (clocks, breaches, escalations) are recorded as Docket's."""
        return {"tenant": self.tenant, "actor_id": SYSTEM_ID, "actor_role": SYSTEM_ROLE, "is_sensitive": self.is_sensitive}

    # Shared by every command

    def _allow(self, actor: Actor, action: Action, archived_too: bool = False) -> None:
        """The caller may see this ticket, their role may take this action, and the ticket is not archived."""
        self.ensure_visible_to(actor)
        require(actor, action)
        if self.archived and not archived_too:
            raise Refused(f"Ticket {self.tracking_number} is archived; it no longer changes.", code="archived")

    def _stamp(self, actor: Actor) -> dict[str, Any]:
        return {"tenant": self.tenant, "actor_id": actor.id, "actor_role": actor.role.value, "is_sensitive": self.is_sensitive}


def _status_changed_v1_v2(state: dict[str, Any]) -> None:
    """A StatusChanged stored before staff could make a note public: its note stays staff's."""
    state.setdefault("note_public", False)


# eventsourcing upcasts stored events of an older class version as it reads them, so old events load
# with the new field, for the aggregate, the projections and the relay alike.
Ticket.StatusChanged.class_version = 2
Ticket.StatusChanged.upcast_v1_v2 = staticmethod(_status_changed_v1_v2)
