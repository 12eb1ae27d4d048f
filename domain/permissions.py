"""Who may do what: the one permission table that commands and queries consult."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import Forbidden


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


STAFF = frozenset({Role.AGENT, Role.MANAGER, Role.LIAISON, Role.ADMIN})
EVERYONE = frozenset(Role)

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.OPEN_TICKET: frozenset({Role.REPORTER, *STAFF}),
    Action.CHANGE_STATUS: STAFF,
    Action.READ_TICKETS: EVERYONE,
    Action.READ_HISTORY: EVERYONE,
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
    """The tickets a caller may read: always one tenant, narrowed by role."""

    tenant: str
    reporter_id: str | None = None
    ward: str | None = None


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
    """Reporters read their own tickets; ward councillors their ward's; other roles the tenant's."""
    require(actor, Action.READ_TICKETS)
    if actor.role is Role.REPORTER:
        return ReadScope(tenant=actor.tenant, reporter_id=actor.id)
    if actor.role is Role.WARD_COUNCILLOR:
        return ReadScope(tenant=actor.tenant, ward=actor.ward or "")
    return ReadScope(tenant=actor.tenant)
