"""Request bodies, validated by msgspec before a handler runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from domain.permissions import Role
from domain.workflow import Category

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Note = Annotated[str, msgspec.Meta(max_length=5_000)]
Labels = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(max_length=50)]
CustomFields = dict[str, str | int | float | bool | None]
Version = Annotated[int, msgspec.Meta(ge=1)]
Priority = Literal["low", "medium", "high", "urgent"]
Severity = Literal["minor", "moderate", "major", "critical"]


class Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every body refuses fields it does not know, so a misspelt field is a 400, not a silent no-op."""


class LocationBody(Body, frozen=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class ReporterBody(Body, frozen=True):
    id: Name | None = None
    name: Text | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None


class NewTicket(Body, frozen=True):
    title: Text
    description: LongText
    category: Name
    priority: Priority = "medium"
    severity: Severity | None = None
    ticket_type: Name | None = None
    workflow: Name | None = None
    reporter: ReporterBody | None = None
    location: LocationBody | None = None
    address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    ward: Name | None = None
    tags: Labels = []
    watchers: Labels = []
    custom_fields: CustomFields = {}
    is_sensitive: bool = False


class StatusChange(Body, frozen=True):
    status: Name
    note: Note | None = None
    note_public: bool = False  # the note is for the reporter too; else staff alone read it
    expected_version: Version | None = None
    assignee_id: Name | None = None
    completion_notes: LongText | None = None
    fields: dict[str, Annotated[str, msgspec.Meta(max_length=20_000)]] = {}  # what a tenant's workflow requires

    def transition_fields(self) -> dict[str, Any]:
        named = {"assignee_id": self.assignee_id, "completion_notes": self.completion_notes}
        return {**self.fields, **{k: v for k, v in named.items() if v is not None}}


class TicketEdit(Body, frozen=True):
    """Only the fields present change; `null` clears an optional one."""

    title: Text | UnsetType = UNSET
    description: LongText | UnsetType = UNSET
    category: Name | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    severity: Severity | None | UnsetType = UNSET
    ticket_type: Name | None | UnsetType = UNSET
    address: Annotated[str, msgspec.Meta(max_length=500)] | None | UnsetType = UNSET
    ward: Name | None | UnsetType = UNSET
    location: LocationBody | None | UnsetType = UNSET
    tags: Labels | UnsetType = UNSET
    watchers: Labels | UnsetType = UNSET
    custom_fields: CustomFields | UnsetType = UNSET
    expected_version: Version | None = None

    def changes(self) -> dict[str, Any]:
        present = {f: v for f in self.__struct_fields__ if f != "expected_version" and (v := getattr(self, f)) is not UNSET}
        return msgspec.to_builtins(present)  # a location as the plain {"lat", "lon"} the command carries


class NewReply(Body, frozen=True):
    body: LongText
    internal: bool = False
    is_solution: bool = False


class Transfer(Body, frozen=True):
    assignee_id: Name
    reason: Note | None = None
    expected_version: Version | None = None


class Reasoned(Body, frozen=True):
    """A step that must say why: making a ticket sensitive, erasing its reporter."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]


class Redaction(Body, frozen=True):
    field: Literal["reporter_name", "reporter_phone", "reporter_email", "address", "location"]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]


class TransitionBody(Body, frozen=True, rename={"source": "from"}):
    source: Name
    to: Name
    roles: list[Role] = []
    requires: list[Name] = []
    assignee_only: bool = False


class WorkflowDefinition(Body, frozen=True):
    initial: Name
    states: Annotated[dict[Name, Category], msgspec.Meta(min_length=1, max_length=100)]
    transitions: Annotated[list[TransitionBody], msgspec.Meta(max_length=1_000)]
    reporter_reply: dict[Name, Name] = {}

    def as_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


class TenantSettings(Body, frozen=True):
    default_workflow: Name | None = None
    reporter_reply_moves_ticket: bool | None = None
    auto_route_on_open: bool | None = None
    # Reports in these categories are sensitive whatever their flag says (default ["gbv"]).
    sensitive_categories: (
        Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(max_length=100)] | None
    ) = None
    # What agents read: every ticket, their teams' tickets, or those assigned to them.
    agent_scope: Literal["all", "team", "assigned"] | None = None


class AssignBody(Body, frozen=True):
    """No team: the tenant's routing rules choose. A team and no assignee: the team's strategy chooses."""

    team_id: UUID | None = None
    assignee_id: Name | None = None
    reason: Note | None = None
    expected_version: Version | None = None


class RejectBody(Body, frozen=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]
    expected_version: Version | None = None


class UnassignBody(Body, frozen=True):
    reason: Note | None = None
    expected_version: Version | None = None


Strategy = Literal["round_robin", "least_open", "none"]
Capacity = Annotated[int, msgspec.Meta(ge=1)]


class NewTeam(Body, frozen=True):
    name: Text
    categories: Labels = []
    wards: Labels = []
    is_restricted: bool = False
    capacity: Capacity | None = None
    strategy: Strategy = "none"


class TeamEdit(Body, frozen=True):
    """Only the fields present change; `"capacity": null` removes the limit."""

    name: Text | UnsetType = UNSET
    categories: Labels | UnsetType = UNSET
    wards: Labels | UnsetType = UNSET
    is_restricted: bool | UnsetType = UNSET
    capacity: Capacity | None | UnsetType = UNSET
    strategy: Strategy | UnsetType = UNSET

    def changes(self) -> dict[str, Any]:
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not UNSET}


class MemberBody(Body, frozen=True):
    display_name: Text
    role: Literal["agent", "manager", "liaison", "admin"] = "agent"
    phone: Annotated[str, msgspec.Meta(max_length=32, description="E.164, e.g. +27821234567: WhatsApp and SMS")] | None = None
    email: Annotated[str, msgspec.Meta(max_length=254, description="Notifications by email")] | None = None


Criterion = Name | list[Name]


class RuleBody(Body, frozen=True):
    name: Name
    team_id: UUID
    category: Criterion | None = None
    ward: Criterion | None = None
    workflow: Criterion | None = None
    priority: Priority | list[Priority] | None = None


class RoutingRulesBody(Body, frozen=True):
    rules: Annotated[list[RuleBody], msgspec.Meta(max_length=500)]
    fallback_team_id: UUID | None = None

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in msgspec.to_builtins(rule).items() if v is not None} for rule in self.rules]


class CalendarBody(Body, frozen=True):
    """Working hours per weekday (`mon`..`sun`, local wall-clock "HH:MM" pairs), a time zone and holidays."""

    timezone: Name = "UTC"
    hours: (
        dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[Annotated[list[str], msgspec.Meta(min_length=2, max_length=2)]]]
        | None
    ) = None  # none: all day, every day
    holidays: list[str] = []


class SLAPolicyBody(Body, frozen=True):
    id: Name
    workflow: Criterion | None = None
    category: Criterion | None = None
    priority: Priority | list[Priority] | None = None
    ticket_type: Criterion | None = None
    response_hours: Annotated[float, msgspec.Meta(gt=0)] | None = None
    resolution_hours: Annotated[float, msgspec.Meta(gt=0)] | None = None
    warning_threshold: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.8
    calendar: CalendarBody | None = None  # none: 24x7
    reopen: Literal["restart", "continue"] = "restart"
    is_active: bool = True  # an inactive policy keeps its place and matches no ticket


class SLAPoliciesBody(Body, frozen=True):
    policies: Annotated[list[SLAPolicyBody], msgspec.Meta(max_length=500)]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in msgspec.to_builtins(p).items() if v is not None} for p in self.policies]
