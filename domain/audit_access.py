"""Who reads the audit trail, and which of it.

Auditors and administrators read a tenant's events as recorded, every aggregate's, never another
tenant's. A sensitive ticket's events (a ticket made sensitive later counts as sensitive from its
opening) are for those cleared for sensitive tickets: administrators always, auditors only where
the tenant's administrator cleared them (AuditSettings). A field redacted from a ticket stays
redacted in every event of it, before and after the redaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Forbidden, TicketNotFound
from domain.ids import tenant_aggregate_id
from domain.permissions import Action, Actor, Role, may, require

REDACTED = "[redacted]"


class AuditSettings(Aggregate):
    """A tenant's audit settings: whether its auditors are cleared for sensitive tickets."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return audit_settings_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.auditors_see_sensitive = False

    def clear_auditors(self, actor: Actor, sensitive: bool) -> None:
        """Records a change of clearance; setting what is already set records nothing."""
        require(actor, Action.CLEAR_AUDITORS)
        if sensitive != self.auditors_see_sensitive:
            self._clearance_changed(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value, auditors_see_sensitive=sensitive)

    @event("AuditorClearanceChanged")
    def _clearance_changed(self, *, tenant: str, actor_id: str, actor_role: str, auditors_see_sensitive: bool) -> None:
        self.auditors_see_sensitive = auditors_see_sensitive


def audit_settings_id(tenant: str) -> UUID:
    return tenant_aggregate_id("audit-settings", tenant)


@dataclass(frozen=True, slots=True)
class AuditScope:
    """The events a caller reads: one tenant's, and sensitive tickets' only when cleared."""

    tenant: str
    sensitive: bool


def audit_scope(actor: Actor, auditors_cleared: bool) -> AuditScope:
    require(actor, Action.READ_AUDIT_TRAIL)
    cleared = may(actor.role, Action.READ_SENSITIVE) or (actor.role is Role.AUDITOR and auditors_cleared)
    return AuditScope(actor.tenant, cleared)


def ensure_in_audit_scope(scope: AuditScope, ticket: object, tenant: str | None, sensitive: bool) -> None:
    """Another tenant's ticket (or none) does not exist: 404; a sensitive one the caller is not
    cleared for is refused without a word of it: 403."""
    if tenant != scope.tenant:
        raise TicketNotFound(ticket)
    if sensitive and not scope.sensitive:
        raise Forbidden("This ticket is restricted: your role is not cleared for sensitive tickets' events.", code="restricted_ticket")


def redacted(fields: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """The event's fields with every redacted one, and every change of one, shown as redacted."""
    if not names:
        return fields
    shown = {name: (REDACTED if name in names and value is not None else value) for name, value in fields.items()}
    changes = shown.get("changes")
    if isinstance(changes, dict):
        shown["changes"] = {name: ({"old": REDACTED, "new": REDACTED} if name in names else v) for name, v in changes.items()}
    return shown
