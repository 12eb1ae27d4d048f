"""Audit use cases: clearing a tenant's auditors for sensitive tickets, and reading whether they are."""

from __future__ import annotations

import logging

import msgspec
from eventsourcing.application import AggregateNotFoundError

from commands.app import Docket
from commands.runner import Unit
from domain.audit_access import AuditSettings, audit_settings_id
from domain.permissions import Actor

log = logging.getLogger(__name__)


class ClearAuditors(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    auditors_see_sensitive: bool


class AuditClearance(msgspec.Struct, frozen=True):
    auditors_see_sensitive: bool
    notification_id: int | None = None  # None when nothing changed


def clear_auditors(app: Docket, cmd: ClearAuditors) -> AuditClearance:
    def decide(unit: Unit) -> AuditSettings:
        # Not the configuration cache: its follower does not watch these events, and one small
        # aggregate read through the repository's own cache is cheap.
        try:
            settings, fresh = unit.get(audit_settings_id(cmd.actor.tenant)), False
        except AggregateNotFoundError:
            settings, fresh = AuditSettings(tenant=cmd.actor.tenant), True
        settings.clear_auditors(cmd.actor, cmd.auditors_see_sensitive)
        if len(settings.pending_events) > fresh:  # a fresh one that changed nothing is not worth storing
            unit.save(settings)
        return settings

    def saved(settings: AuditSettings, notification_id: int | None) -> AuditClearance:
        if notification_id is not None:
            log.info("tenant %s: auditors cleared for sensitive tickets: %s", cmd.actor.tenant, settings.auditors_see_sensitive)
        return AuditClearance(settings.auditors_see_sensitive, notification_id)

    return app.commands.run(decide, saved)


def auditors_cleared(app: Docket, tenant: str) -> bool:
    """Whether the tenant's auditors read sensitive tickets' events: not unless an admin said so."""
    try:
        return app.repository.get(audit_settings_id(tenant)).auditors_see_sensitive
    except AggregateNotFoundError:
        return False
