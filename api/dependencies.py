"""Dependencies shared by the controllers: the caller's identity and the services."""

from __future__ import annotations

import asyncio
import dataclasses

from litestar import Request
from litestar.di import NamedDependency

from api.services import Services
from domain.permissions import Actor, Role
from projections.agent_queries import agent_reach
from projections.row_security import Reader, reading_as


async def provide_actor(request: Request, services: NamedDependency[Services]) -> Actor:
    """The caller, who the read model's row-level security then reads as for the rest of the
    request (the handler's thread inherits it)."""
    actor = await asyncio.to_thread(caller, request.headers.get("authorization"), services)  # may fetch signing keys
    reading_as.set(Reader.of(actor))
    return actor


def caller(authorization: str | None, services: Services) -> Actor:
    """The caller as the token names them; for an agent, also what their reading reaches (their
    teams, the tenant's agent_scope), which the read model knows and the token does not."""
    actor = services.tokens.actor_from_header(authorization)
    if actor.role is Role.AGENT:
        teams, scope = agent_reach(services.engine, actor.tenant, actor.id)
        actor = dataclasses.replace(actor, teams=teams, agent_scope=scope)
    return actor
