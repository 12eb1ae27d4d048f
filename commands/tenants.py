"""Tenant use cases: defining workflows and changing ticket settings."""

from __future__ import annotations

import logging

from commands.app import Docket, tenant_aggregate
from commands.runner import Unit
from commands.structs import ChangeTenantSettings, DefineWorkflow, SettingsSaved, WorkflowSaved
from domain.tenant import TenantConfig
from domain.workflow import Workflow

log = logging.getLogger(__name__)


def define_workflow(app: Docket, cmd: DefineWorkflow) -> WorkflowSaved:
    def decide(unit: Unit) -> Workflow:
        config = tenant_aggregate(unit, TenantConfig, cmd.actor.tenant)
        workflow = config.define_workflow(cmd.actor, cmd.name, cmd.definition)
        unit.save(config)
        return workflow

    def saved(workflow: Workflow, notification_id: int | None) -> WorkflowSaved:
        if notification_id is not None:
            log.info("tenant %s defined workflow %s version %s", cmd.actor.tenant, workflow.name, workflow.version)
        return WorkflowSaved(name=workflow.name, version=workflow.version, notification_id=notification_id)

    return app.commands.run(decide, saved)


def change_tenant_settings(app: Docket, cmd: ChangeTenantSettings) -> SettingsSaved:
    def decide(unit: Unit) -> TenantConfig:
        config = tenant_aggregate(unit, TenantConfig, cmd.actor.tenant)
        config.change_settings(cmd.actor, {name: getattr(cmd, name) for name in cmd.__struct_fields__ if name != "actor"})
        unit.save(config)
        return config

    def saved(config: TenantConfig, notification_id: int | None) -> SettingsSaved:
        return SettingsSaved(
            default_workflow=config.workflow().name,
            reporter_reply_moves_ticket=config.reporter_reply_moves_ticket,
            auto_route_on_open=config.auto_route_on_open,
            sensitive_categories=config.sensitive_categories,
            agent_scope=config.agent_scope,
            notification_id=notification_id,
        )

    return app.commands.run(decide, saved)
