"""What of a ticket's history each role may read: the one place that says so.

Staff write reasons, rule names, rejections and notes for each other. A reporter reads what their
ticket's record shows them: each status and when, their report and its edits, public replies, who
took the ticket on, its deadlines, and a status note only where staff marked it public. Every other
role that may read the ticket at all (agents, managers, ward councillors, liaison officers, admins,
auditors) reads its whole history, internal notes only where the permission table allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.permissions import Action, Role, may

# For a reporter: each event they see, and the fields of its changes they see (None: every one).
# An event not named here is the staff's business: a rejection and its reason, an unassignment, and
# any event added later until someone decides what of it a reporter may read.
REPORTER_SEES: dict[str, frozenset[str] | None] = {
    "Opened": None,  # their own report as it was opened
    # The status and what the record shows of a move; not the other fields a tenant's workflow asks staff for.
    "StatusChanged": frozenset({"status", "assignee_id", "completion_notes"}),
    "ReplyAdded": frozenset({"reply_id", "internal", "is_solution"}),  # public replies only: see history_scope
    "Edited": None,  # staff's edits of the record they read
    "FieldRedacted": None,
    "AttachmentAdded": frozenset({"attachment"}),
    "Archived": frozenset({"archived"}),
    # Who took the ticket on, as the record's assignments show; not by which rule or why.
    "Assigned": frozenset({"team_id", "assignee_id"}),
    "AssignmentAccepted": frozenset({"accepted"}),
    "Transferred": frozenset({"assignee_id"}),
    # The deadlines and whether they were kept; not the policy that set them.
    "SLADeadlinesSet": frozenset({"response_due", "resolution_due"}),
    "SLAPaused": frozenset({"sla_paused_at"}),
    "SLAResumed": frozenset({"response_due", "resolution_due"}),
    "SLAMet": frozenset({"response_met_at", "resolution_met_at", "on_time"}),
    "SLABreached": frozenset({"response_breached", "resolution_breached"}),
    "Escalated": frozenset({"escalation_level"}),
}
# Never for a reporter, whatever event carries them: which rule routed a ticket, which policy set
# its deadlines, and staff's reasons.
STAFF_ONLY_FIELDS = frozenset({"rule", "sla_policy", "reason"})
# The one kind of note a reporter may read, and only where staff marked it public.
PUBLIC_NOTE_EVENTS = frozenset({"StatusChanged"})


@dataclass(frozen=True, slots=True)
class HistoryScope:
    """The entries of a history a role reads: of these events (None: of every event), and
    internal notes' entries or not. A query selects by it, so pages and totals count only these."""

    events: frozenset[str] | None
    internal: bool


@dataclass(frozen=True, slots=True)
class Disclosed:
    changes: dict[str, Any]
    note: str | None


def history_scope(role: Role) -> HistoryScope:
    if role is Role.REPORTER:
        return HistoryScope(events=frozenset(REPORTER_SEES), internal=False)
    return HistoryScope(events=None, internal=may(role, Action.READ_INTERNAL_NOTES))


def in_scope(role: Role, event: str, *, internal: bool) -> bool:
    scope = history_scope(role)
    return (scope.internal or not internal) and (scope.events is None or event in scope.events)


def disclosed(role: Role, event: str, changes: dict[str, Any], note: str | None, *, note_public: bool) -> Disclosed:
    """An entry in the role's scope, as the role may read it."""
    if role is not Role.REPORTER:
        return Disclosed(changes, note)
    fields = REPORTER_SEES.get(event, frozenset())
    shown = {name: change for name, change in changes.items() if (fields is None or name in fields) and name not in STAFF_ONLY_FIELDS}
    return Disclosed(shown, note if note_public and event in PUBLIC_NOTE_EVENTS else None)
