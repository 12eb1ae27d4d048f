"""The tenant's SLA policies."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.params import JSONBody

from api.schemas import SLAPoliciesBody
from api.tickets import Caller, Used
from commands.sla import set_sla_policies
from commands.structs import SetSLAPolicies, SLAPoliciesSaved
from projections.sla_queries import SLAPoliciesView, current_sla_policies


class SLAPolicyController(Controller):
    path = "/api/v1/sla-policies"
    tags = ["sla"]

    @get("/", operation_id="getSLAPolicies", summary="The tenant's SLA policies, in order, at their latest version", sync_to_thread=True)
    def detail(self, actor: Caller, services: Used) -> SLAPoliciesView:
        return current_sla_policies(services.engine, actor)

    @put(
        "/",
        operation_id="setSLAPolicies",
        summary="Replace the SLA policies: a new version; tickets keep the deadlines they were given (admin)",
        sync_to_thread=True,
    )
    def replace(self, data: JSONBody[SLAPoliciesBody], actor: Caller, services: Used) -> SLAPoliciesSaved:
        return set_sla_policies(services.app, SetSLAPolicies(actor=actor, policies=data.as_dicts()))
