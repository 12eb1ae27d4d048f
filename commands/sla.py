"""SLA use cases: the tenant's policies, and applying them to a ticket."""

from __future__ import annotations

import logging

from eventsourcing.persistence import IntegrityError

from commands.app import Docket, last_notification_id, tenant_aggregate
from commands.structs import SetSLAPolicies, SLAPoliciesSaved
from domain.errors import VersionConflict
from domain.permissions import Actor
from domain.sla import SLAFacts, SLAPolicies
from domain.ticket import Ticket

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


def apply_sla(app: Docket, ticket: Ticket, reason: str | None = None, actor: Actor | None = None) -> None:
    """Sets a new ticket's deadlines, or recomputes them (with the reason) after a change of what policies match on."""
    policies = tenant_aggregate(app, SLAPolicies, ticket.tenant)
    facts = SLAFacts(ticket.workflow.name, ticket.category, ticket.priority, ticket.ticket_type)
    policy = policies.policy_for(facts)
    if reason is None:
        if policy is not None:
            ticket.start_sla(policy, policies.policies_version)
    else:
        ticket.recompute_sla(actor, policy, policies.policies_version, reason)
