"""The tenant's SLA policies: the whole ordered list, or one policy at a time."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, put
from litestar.params import JSONBody, PathParameter

from api.schemas import Name, SLAPoliciesBody, SLAPolicyBody
from api.tickets import Caller, Used
from commands.sla import put_sla_policy, remove_sla_policy, set_sla_policies
from commands.structs import PutSLAPolicy, RemoveSLAPolicy, SetSLAPolicies, SLAPoliciesSaved
from domain.errors import Invalid
from projections.sla_queries import SLAPoliciesView, current_sla_policies

PolicyId = Annotated[str, PathParameter(min_length=1, max_length=100, description="The policy's id, as the list names it")]


class OnePolicyBody(SLAPolicyBody, frozen=True):
    """One policy, its id in the path (an `id` in the body, if given, must be the same)."""

    id: Name | None = None  # type: ignore[assignment]

    def as_dict(self, policy_id: str) -> dict[str, Any]:
        if self.id is not None and self.id != policy_id:
            message = f"The body's id {self.id!r} is not the path's {policy_id!r}; leave it out or make them one."
            raise Invalid(message, code="invalid_input", field="id")
        return {k: v for k, v in msgspec.to_builtins(self).items() if v is not None and k != "id"}


class SLAPolicyController(Controller):
    path = "/api/v1/sla-policies"
    tags = ["sla"]

    @get("/", operation_id="getSLAPolicies", summary="The tenant's SLA policies, in order, at their latest version")
    async def detail(self, actor: Caller, services: Used) -> SLAPoliciesView:
        return await services.reads.run(current_sla_policies, actor)

    @put(
        "/",
        operation_id="setSLAPolicies",
        summary="Replace the SLA policies: a new version; tickets keep the deadlines they were given (admin)",
        sync_to_thread=True,
    )
    def replace(self, data: JSONBody[SLAPoliciesBody], actor: Caller, services: Used) -> SLAPoliciesSaved:
        return set_sla_policies(services.app, SetSLAPolicies(actor=actor, policies=data.as_dicts()))

    @put(
        "/{policy_id:str}",
        operation_id="putSLAPolicy",
        summary="Create or replace one SLA policy, in its place (new ones last): a new version of the set (admin)",
        sync_to_thread=True,
    )
    def put_one(self, policy_id: PolicyId, data: JSONBody[OnePolicyBody], actor: Caller, services: Used) -> SLAPoliciesSaved:
        return put_sla_policy(services.app, PutSLAPolicy(actor=actor, policy_id=policy_id, policy=data.as_dict(policy_id)))

    @delete(
        "/{policy_id:str}",
        operation_id="deleteSLAPolicy",
        summary="Remove one SLA policy: a new version of the set; tickets keep the deadlines they were given (admin)",
        status_code=200,
        sync_to_thread=True,
    )
    def remove(self, policy_id: PolicyId, actor: Caller, services: Used) -> SLAPoliciesSaved:
        return remove_sla_policy(services.app, RemoveSLAPolicy(actor=actor, policy_id=policy_id))
