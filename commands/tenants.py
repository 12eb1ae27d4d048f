"""Tenant use cases: defining workflows and changing ticket settings."""

from __future__ import annotations

import logging

from eventsourcing.persistence import IntegrityError

from commands.app import Docket, last_notification_id, tenant_aggregate
from commands.structs import ChangeTenantSettings, DefineWorkflow, SettingsSaved, WorkflowSaved
from domain.errors import VersionConflict
from domain.tenant import TenantConfig

log = logging.getLogger(__name__)


def define_workflow(app: Docket, cmd: DefineWorkflow) -> WorkflowSaved:
    config = tenant_aggregate(app, TenantConfig, cmd.actor.tenant)
    workflow = config.define_workflow(cmd.actor, cmd.name, cmd.definition)
    recordings = _save(app, config)
    if recordings:
        log.info("tenant %s defined workflow %s version %s", config.tenant, workflow.name, workflow.version)
    return WorkflowSaved(name=workflow.name, version=workflow.version, notification_id=last_notification_id(recordings))


def change_tenant_settings(app: Docket, cmd: ChangeTenantSettings) -> SettingsSaved:
    config = tenant_aggregate(app, TenantConfig, cmd.actor.tenant)
    config.change_settings(cmd.actor, {name: getattr(cmd, name) for name in cmd.__struct_fields__ if name != "actor"})
    recordings = _save(app, config)
    return SettingsSaved(
        default_workflow=config.workflow().name,
        reporter_reply_moves_ticket=config.reporter_reply_moves_ticket,
        auto_route_on_open=config.auto_route_on_open,
        notification_id=last_notification_id(recordings),
    )


def _save(app: Docket, config: TenantConfig) -> list:
    try:
        return app.save(config)
    except IntegrityError:
        raise VersionConflict("The tenant's configuration was changed by someone else at the same time; retry.") from None
