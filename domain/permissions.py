"""Who may do what: the one permission table that commands and queries consult."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import Forbidden, TicketNotFound


class Role(StrEnum):
    REPORTER = "reporter"
    AGENT = "agent"
    MANAGER = "manager"
    WARD_COUNCILLOR = "ward_councillor"
    LIAISON = "liaison"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Action(StrEnum):
    OPEN_TICKET = "open_ticket"
    CHANGE_STATUS = "change_status"
    READ_TICKETS = "read_tickets"
    READ_HISTORY = "read_history"
    READ_SENSITIVE = "read_sensitive"
    READ_ORDINARY = "read_ordinary"
    EDIT_TICKET = "edit_ticket"
    REPLY = "reply"
    ADD_INTERNAL_NOTE = "add_internal_note"
    READ_INTERNAL_NOTES = "read_internal_notes"
    TRANSFER = "transfer"
    ARCHIVE = "archive"
    REDACT = "redact"
    ATTACH = "attach"
    DEFINE_WORKFLOWS = "define_workflows"
    MANAGE_TEAMS = "manage_teams"
    READ_TEAMS = "read_teams"
    READ_DASHBOARD = "read_dashboard"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    READ_WORKFLOWS = "read_workflows"
    MARK_SENSITIVE = "mark_sensitive"
    ERASE = "erase"
    MANAGE_NOTIFICATIONS = "manage_notifications"
    READ_NOTIFICATION_RULES = "read_notification_rules"
    READ_DELIVERIES = "read_deliveries"
    READ_AUDIT_TRAIL = "read_audit_trail"
    CLEAR_AUDITORS = "clear_auditors"


STAFF = frozenset({Role.AGENT, Role.MANAGER, Role.LIAISON, Role.ADMIN})
EVERYONE = frozenset(Role)

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.OPEN_TICKET: frozenset({Role.REPORTER, *STAFF}),
    Action.CHANGE_STATUS: STAFF,
    Action.READ_TICKETS: EVERYONE,
    Action.READ_HISTORY: EVERYONE,
    # Sensitive reports (gender-based violence, say) are for liaison officers and administrators;
    # liaison officers handle nothing else. A reporter always sees their own report.
    Action.READ_SENSITIVE: frozenset({Role.LIAISON, Role.ADMIN}),
    Action.READ_ORDINARY: EVERYONE - {Role.LIAISON},
    Action.EDIT_TICKET: STAFF,
    Action.REPLY: frozenset({Role.REPORTER, *STAFF}),
    Action.ADD_INTERNAL_NOTE: STAFF,
    # Internal notes never reach the reporter; auditors read everything that was recorded.
    Action.READ_INTERNAL_NOTES: frozenset({*STAFF, Role.AUDITOR}),
    Action.TRANSFER: STAFF,
    Action.ARCHIVE: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.REDACT: frozenset({Role.ADMIN}),
    Action.ATTACH: frozenset({Role.REPORTER, *STAFF}),
    Action.DEFINE_WORKFLOWS: frozenset({Role.ADMIN}),
    Action.MANAGE_TEAMS: frozenset({Role.ADMIN}),
    Action.READ_TEAMS: frozenset({*STAFF, Role.AUDITOR}),
    # Dashboards never count sensitive tickets, so the roles that run the ordinary work read them.
    Action.READ_DASHBOARD: frozenset({Role.AGENT, Role.MANAGER, Role.ADMIN, Role.AUDITOR, Role.WARD_COUNCILLOR}),
    Action.ASSIGN: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.UNASSIGN: frozenset({Role.ADMIN}),
    Action.READ_WORKFLOWS: EVERYONE,
    # Making a ticket sensitive only ever narrows who reads it: the liaison may do it to a ticket
    # they could not read before, and a manager to one they could.
    Action.MARK_SENSITIVE: frozenset({Role.LIAISON, Role.ADMIN, Role.MANAGER}),
    # Erasing a person for good is the administrator's, as redaction is.
    Action.ERASE: frozenset({Role.ADMIN}),
    # Notification rules, the tenant's webhook and its suppression list are the administrator's.
    Action.MANAGE_NOTIFICATIONS: frozenset({Role.ADMIN}),
    Action.READ_NOTIFICATION_RULES: frozenset({Role.ADMIN, Role.AUDITOR}),
    # Who was told what about a ticket: staff and auditors; a reporter, only what went to them.
    Action.READ_DELIVERIES: frozenset({*STAFF, Role.AUDITOR, Role.REPORTER}),
    # The event store itself (every aggregate's events, as recorded, with their chain hashes).
    Action.READ_AUDIT_TRAIL: frozenset({Role.AUDITOR, Role.ADMIN}),
    # Whether the tenant's auditors read sensitive tickets' events too.
    Action.CLEAR_AUDITORS: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a command or query, as the token names them."""

    id: str
    tenant: str
    role: Role
    ward: str | None = None
    team: str | None = None
    teams: frozenset[str] = frozenset()  # an agent's teams, as their membership says: what their scope reaches
    agent_scope: str | None = None  # the tenant's setting for agents (see agent_scope_of)


# What an agent reads: every ticket of the tenant, its teams' tickets, or those assigned to them.
AGENT_SCOPES = ("all", "team", "assigned")


def agent_scope_of(setting: str | None, workflow: str) -> str:
    """The scope of an agent's reading on a ticket of this workflow: the tenant's setting, else
    the seeds' need to know: a technician sees the jobs given to them, an agent their teams' tickets."""
    return setting or ("assigned" if workflow == "field_service" else "team")


@dataclass(frozen=True, slots=True)
class AgentReach:
    """The tickets an agent may read: assigned to them, or held by one of their teams, as the
    tenant's agent_scope (or, unset, each ticket's workflow) says; and always those they reported themselves."""

    id: str
    teams: frozenset[str]
    setting: str | None

    def reaches(self, facts: TicketFacts) -> bool:
        if facts.reporter_id == self.id:
            return True
        match agent_scope_of(self.setting, facts.workflow):
            case "all":
                return True
            case "assigned":
                return facts.assignee_id == self.id
            case _:
                return facts.assignee_id == self.id or (facts.team_id is not None and facts.team_id in self.teams)


@dataclass(frozen=True, slots=True)
class ReadScope:
    """The tickets a caller may read: always one tenant, narrowed by role.

    `sensitive` and `ordinary` say whether sensitive and ordinary tickets are in scope.
    """

    tenant: str
    reporter_id: str | None = None
    ward: str | None = None
    sensitive: bool = False
    ordinary: bool = True
    agent: AgentReach | None = None  # for an agent: which of the tenant's tickets they reach


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What access control needs to know of a ticket."""

    tenant: str
    reporter_id: str
    ward: str | None
    is_sensitive: bool
    workflow: str = ""
    team_id: str | None = None
    assignee_id: str | None = None


def may(role: Role, action: Action) -> bool:
    return role in PERMISSIONS[action]


def require(actor: Actor, action: Action) -> None:
    if not may(actor.role, action):
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        raise Forbidden(
            f"The role {actor.role} may not {action.replace('_', ' ')}; allowed roles: {allowed}.",
            code="role_not_allowed",
        )


def read_scope(actor: Actor) -> ReadScope:
    """Reporters read their own tickets; ward councillors their ward's; other roles the tenant's;
    and of those, only the sensitive or ordinary ones their role may read."""
    require(actor, Action.READ_TICKETS)
    if actor.role is Role.REPORTER:
        return ReadScope(tenant=actor.tenant, reporter_id=actor.id, sensitive=True)
    return ReadScope(
        tenant=actor.tenant,
        ward=(actor.ward or "") if actor.role is Role.WARD_COUNCILLOR else None,
        sensitive=may(actor.role, Action.READ_SENSITIVE),
        ordinary=may(actor.role, Action.READ_ORDINARY),
        agent=AgentReach(actor.id, actor.teams, actor.agent_scope) if actor.role is Role.AGENT else None,
    )


def list_scope(actor: Actor, include_sensitive: bool = False) -> ReadScope:
    """What the caller's lists, searches and queues show: their read scope, except that an
    administrator's leave sensitive tickets out unless asked for them (seed 001: sensitive reports
    are in no list but the liaison's); an administrator may still open one by id."""
    scope = read_scope(actor)
    if actor.role is Role.ADMIN and not include_sensitive:
        return dataclasses.replace(scope, sensitive=False)
    return scope


def ensure_visible(actor: Actor, ticket_id: object, facts: TicketFacts) -> None:
    """Outside the caller's scope (tenant, own reports, ward) a ticket does not exist: 404.
    Inside it, a ticket of a kind the role may not read is refused without a word of it: 403."""
    scope = read_scope(actor)
    if (
        facts.tenant != scope.tenant
        or (scope.reporter_id is not None and facts.reporter_id != scope.reporter_id)
        or (scope.ward is not None and facts.ward != scope.ward)
        or (scope.agent is not None and not scope.agent.reaches(facts))
    ):
        raise TicketNotFound(ticket_id)
    if facts.is_sensitive and not scope.sensitive:
        raise Forbidden("This ticket is restricted to liaison officers and administrators.", code="restricted_ticket")
    if not facts.is_sensitive and not scope.ordinary:
        raise Forbidden("Liaison officers handle sensitive tickets only.", code="outside_role")
