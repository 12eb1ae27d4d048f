"""Commands: what a caller asks for, with who is asking. A new field always has a default."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.permissions import Actor


class Location(msgspec.Struct, frozen=True):
    lat: float
    lon: float


class Reporter(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class OpenTicket(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    title: str
    description: str
    category: str
    priority: str = "medium"
    severity: str | None = None
    ticket_type: str | None = None
    workflow: str | None = None  # None: the tenant's default workflow, else municipal
    reporter: Reporter | None = None
    location: Location | None = None
    address: str | None = None
    ward: str | None = None
    tags: list[str] = []
    watchers: list[str] = []
    custom_fields: dict[str, Any] = {}
    is_sensitive: bool = False


class TicketCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A command on one existing ticket; `expected_version` guards against lost updates."""

    actor: Actor
    ticket_id: UUID
    expected_version: int | None = None


class MarkSensitive(TicketCommand, frozen=True, kw_only=True):
    reason: str


class EraseReporter(TicketCommand, frozen=True, kw_only=True):
    reason: str


class ChangeStatus(TicketCommand, frozen=True, kw_only=True):
    status: str
    note: str | None = None
    fields: dict[str, Any] = {}  # what the transition requires, e.g. assignee_id, completion_notes
    note_public: bool = False  # the note is for the reporter too; else for staff alone


class AddReply(TicketCommand, frozen=True, kw_only=True):
    body: str
    internal: bool = False
    is_solution: bool = False


class EditTicket(TicketCommand, frozen=True, kw_only=True):
    changes: dict[str, Any]


class TransferTicket(TicketCommand, frozen=True, kw_only=True):
    assignee_id: str
    reason: str | None = None


class ArchiveTicket(TicketCommand, frozen=True, kw_only=True):
    reason: str | None = None


class RedactField(TicketCommand, frozen=True, kw_only=True):
    field: str
    reason: str


class AddAttachment(TicketCommand, frozen=True, kw_only=True):
    name: str
    content_type: str
    content: bytes
    kind: str = "ticket"


class DefineWorkflow(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    name: str
    definition: dict[str, Any]


class ChangeTenantSettings(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    default_workflow: str | None = None
    reporter_reply_moves_ticket: bool | None = None
    auto_route_on_open: bool | None = None
    sensitive_categories: list[str] | None = None
    agent_scope: str | None = None


class Opened(msgspec.Struct, frozen=True):
    """What open_ticket answers: enough for the caller to find the ticket again."""

    id: UUID
    tracking_number: str
    status: str
    created_at: datetime
    notification_id: int


class Changed(msgspec.Struct, frozen=True):
    """What a command on a ticket answers: its state after the command."""

    id: UUID
    status: str
    version: int
    notification_id: int | None  # None when the command changed nothing


class Replied(msgspec.Struct, frozen=True):
    id: UUID
    ticket_id: UUID
    status: str
    version: int
    notification_id: int


class Attached(msgspec.Struct, frozen=True):
    id: UUID
    ticket_id: UUID
    sha256: str
    name: str
    content_type: str
    size: int
    kind: str
    version: int
    notification_id: int


class WorkflowSaved(msgspec.Struct, frozen=True):
    name: str
    version: int
    notification_id: int | None  # None when the definition was already the current one


class SettingsSaved(msgspec.Struct, frozen=True):
    default_workflow: str
    reporter_reply_moves_ticket: bool
    auto_route_on_open: bool
    sensitive_categories: list[str]
    agent_scope: str | None
    notification_id: int | None  # None when nothing changed


class AssignTicket(TicketCommand, frozen=True, kw_only=True):
    team_id: UUID | None = None  # None: the tenant's routing rules choose
    assignee_id: str | None = None  # None: the team's strategy chooses (or the team queue)
    reason: str | None = None


class AcceptTicket(TicketCommand, frozen=True, kw_only=True):
    pass


class RejectTicket(TicketCommand, frozen=True, kw_only=True):
    reason: str


class UnassignTicket(TicketCommand, frozen=True, kw_only=True):
    reason: str | None = None


class Assignment(msgspec.Struct, frozen=True):
    id: UUID
    status: str
    team_id: str | None
    assignee_id: str | None
    version: int
    notification_id: int | None


class CreateTeam(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    name: str
    categories: list[str] = []
    wards: list[str] = []
    is_restricted: bool = False
    capacity: int | None = None
    strategy: str = "none"


class ChangeTeam(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    team_id: UUID
    changes: dict[str, Any]


class AddMember(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    team_id: UUID
    user_id: str
    display_name: str
    role: str = "agent"
    phone: str | None = None  # where notifications reach the member; E.164 once checked
    email: str | None = None


class RemoveMember(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    team_id: UUID
    user_id: str


class TeamSaved(msgspec.Struct, frozen=True):
    id: UUID
    version: int
    notification_id: int | None


class SetRoutingRules(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    rules: list[dict[str, Any]]
    fallback_team_id: str | None = None


class RoutingRulesSaved(msgspec.Struct, frozen=True):
    version: int
    notification_id: int | None


class SetSLAPolicies(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    policies: list[dict[str, Any]]


class PutSLAPolicy(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    policy_id: str
    policy: dict[str, Any]


class RemoveSLAPolicy(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    policy_id: str


class SLAPoliciesSaved(msgspec.Struct, frozen=True):
    version: int
    notification_id: int | None
