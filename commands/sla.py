"""SLA use cases: the tenant's policies."""

from __future__ import annotations

import logging
from collections.abc import Callable

from commands.app import Docket, tenant_aggregate
from commands.runner import Unit
from commands.structs import PutSLAPolicy, RemoveSLAPolicy, SetSLAPolicies, SLAPoliciesSaved
from domain.permissions import Actor
from domain.sla import SLAPolicies

log = logging.getLogger(__name__)


def set_sla_policies(app: Docket, cmd: SetSLAPolicies) -> SLAPoliciesSaved:
    def decide(unit: Unit) -> SLAPolicies:
        policies = tenant_aggregate(unit, SLAPolicies, cmd.actor.tenant)
        policies.replace(cmd.actor, cmd.policies)
        unit.save(policies)
        return policies

    def saved(policies: SLAPolicies, notification_id: int | None) -> SLAPoliciesSaved:
        log.info("tenant %s set SLA policies version %s", policies.tenant, policies.policies_version)
        return SLAPoliciesSaved(version=policies.policies_version, notification_id=notification_id)

    return app.commands.run(decide, saved)


def put_sla_policy(app: Docket, cmd: PutSLAPolicy) -> SLAPoliciesSaved:
    """One policy created or replaced in its place: a new version of the set."""
    return _change_policies(app, cmd.actor, lambda policies: policies.put_policy(cmd.actor, cmd.policy_id, cmd.policy))


def remove_sla_policy(app: Docket, cmd: RemoveSLAPolicy) -> SLAPoliciesSaved:
    return _change_policies(app, cmd.actor, lambda policies: policies.remove_policy(cmd.actor, cmd.policy_id))


def _change_policies(app: Docket, actor: Actor, change: Callable[[SLAPolicies], None]) -> SLAPoliciesSaved:
    def decide(unit: Unit) -> SLAPolicies:
        policies = tenant_aggregate(unit, SLAPolicies, actor.tenant)
        change(policies)
        unit.save(policies)
        return policies

    def saved(policies: SLAPolicies, notification_id: int | None) -> SLAPoliciesSaved:
        log.info("tenant %s changed one SLA policy: version %s", policies.tenant, policies.policies_version)
        return SLAPoliciesSaved(version=policies.policies_version, notification_id=notification_id)

    return app.commands.run(decide, saved)
