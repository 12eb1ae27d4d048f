"""Workflows and the tenant's ticket settings."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, put
from litestar.params import FromPath, JSONBody

from api.schemas import TenantSettings, WorkflowDefinition
from api.tickets import Caller, Used
from commands.structs import ChangeTenantSettings, DefineWorkflow, SettingsSaved, WorkflowSaved
from commands.tenants import change_tenant_settings, define_workflow
from projections.workflow_queries import TenantSettingsView, WorkflowView, get_workflow, list_workflows, tenant_settings


class WorkflowController(Controller):
    path = "/api/v1/workflows"
    tags = ["workflows"]

    @get(
        "/",
        operation_id="listWorkflows",
        summary="The built-in workflows and the tenant's own, each at its latest version",
    )
    async def list(self, actor: Caller, services: Used) -> list[WorkflowView]:
        return await services.reads.run(list_workflows, actor)

    @get("/{name:str}", operation_id="getWorkflow", summary="One workflow at its latest version")
    async def detail(self, name: FromPath[str], actor: Caller, services: Used) -> WorkflowView:
        return await services.reads.run(get_workflow, actor, name)

    @put("/{name:str}", operation_id="defineWorkflow", summary="Define a workflow, or a new version of one (admin)", sync_to_thread=True)
    def define(self, name: FromPath[str], data: JSONBody[WorkflowDefinition], actor: Caller, services: Used) -> WorkflowSaved:
        return define_workflow(services.app, DefineWorkflow(actor=actor, name=name, definition=data.as_dict()))


class TenantSettingsController(Controller):
    path = "/api/v1/tenant-settings"
    tags = ["workflows"]

    @get("/", operation_id="getTenantSettings", summary="The tenant's default workflow and reply rule")
    async def detail(self, actor: Caller, services: Used) -> TenantSettingsView:
        return await services.reads.run(tenant_settings, actor)

    @put(
        "/", operation_id="changeTenantSettings", summary="Change the tenant's default workflow and reply rule (admin)", sync_to_thread=True
    )
    def change(self, data: JSONBody[TenantSettings], actor: Caller, services: Used) -> SettingsSaved:
        command = ChangeTenantSettings(actor=actor, **msgspec.structs.asdict(data))
        return change_tenant_settings(services.app, command)
