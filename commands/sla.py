"""SLA use cases: the tenant's policies."""

from __future__ import annotations

import logging

from eventsourcing.persistence import IntegrityError

from commands.app import Docket, last_notification_id, tenant_aggregate
from commands.structs import SetSLAPolicies, SLAPoliciesSaved
from domain.errors import VersionConflict
from domain.sla import SLAPolicies

log = logging.getLogger(__name__)


def set_sla_policies(app: Docket, cmd: SetSLAPolicies) -> SLAPoliciesSaved:
    policies = tenant_aggregate(app, SLAPolicies, cmd.actor.tenant)
    policies.replace(cmd.actor, cmd.policies)
    try:
        recordings = app.save(policies)
    except IntegrityError:
        raise VersionConflict("The SLA policies were changed by someone else at the same time; reload and retry.") from None
    log.info("tenant %s set SLA policies version %s", policies.tenant, policies.policies_version)
    return SLAPoliciesSaved(version=policies.policies_version, notification_id=last_notification_id(recordings))
