"""SLA use cases: the tenant's policies."""

from __future__ import annotations

import logging

from commands.app import Docket, tenant_aggregate
from commands.runner import Unit
from commands.structs import SetSLAPolicies, SLAPoliciesSaved
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
