"""Who may do what: the one permission table that commands and queries consult."""

from __future__ import annotations

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
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a command or query, as the token names them."""

    id: str
    tenant: str
    role: Role
    ward: str | None = None
    team: str | None = None


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


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What access control needs to know of a ticket."""

    tenant: str
    reporter_id: str
    ward: str | None
    is_sensitive: bool


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
    )


def list_scope(actor: Actor, include_sensitive: bool = False) -> ReadScope:
    """What the caller's lists, searches and queues show: their read scope, except that an
    administrator's leave sensitive tickets out unless asked for them (seed 001: sensitive reports
    are in no list but the liaison's); an administrator may still open one by id."""
    scope = read_scope(actor)
    if actor.role is Role.ADMIN and not include_sensitive:
        return ReadScope(tenant=scope.tenant, reporter_id=scope.reporter_id, ward=scope.ward, sensitive=False, ordinary=scope.ordinary)
    return scope


def ensure_visible(actor: Actor, ticket_id: object, facts: TicketFacts) -> None:
    """Outside the caller's scope (tenant, own reports, ward) a ticket does not exist: 404.
    Inside it, a ticket of a kind the role may not read is refused without a word of it: 403."""
    scope = read_scope(actor)
    if (
        facts.tenant != scope.tenant
        or (scope.reporter_id is not None and facts.reporter_id != scope.reporter_id)
        or (scope.ward is not None and facts.ward != scope.ward)
    ):
        raise TicketNotFound(ticket_id)
    if facts.is_sensitive and not scope.sensitive:
        raise Forbidden("This ticket is restricted to liaison officers and administrators.", code="restricted_ticket")
    if not facts.is_sensitive and not scope.ordinary:
        raise Forbidden("Liaison officers handle sensitive tickets only.", code="outside_role")
