"""Dependencies shared by the controllers: the caller's identity and the services."""

from __future__ import annotations

import dataclasses

from litestar import Request
from litestar.di import NamedDependency

from api.services import Services
from domain.permissions import Actor, Role
from projections.agent_queries import agent_reach


def provide_actor(request: Request, services: NamedDependency[Services]) -> Actor:
    """The caller as the token names them; for an agent, also what their reading reaches (their
    teams, the tenant's agent_scope), which the read model knows and the token does not."""
    actor = services.tokens.actor_from_header(request.headers.get("authorization"))
    if actor.role is Role.AGENT:
        teams, scope = agent_reach(services.engine, actor.tenant, actor.id)
        actor = dataclasses.replace(actor, teams=teams, agent_scope=scope)
    return actor
