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
    request. A token seen before is taken from memory; a new one is verified in a thread (it may
    fetch the identity provider's signing keys)."""
    authorization = request.headers.get("authorization")
    actor = services.tokens.known_actor(authorization)
    if actor is None:
        actor = await asyncio.to_thread(services.tokens.actor_from_header, authorization)
    reading_as.set(Reader.of(actor))
    if actor.role is Role.AGENT:
        actor = await with_reach(actor, services)
    return actor


async def with_reach(agent: Actor, services: Services) -> Actor:
    """An agent, with what their reading reaches (their teams, the tenant's agent_scope): the read
    model knows it, the token does not. Read as the agent, as the request's other reads are (the
    teams and settings of their own tenant are theirs to read): the connection is not switched to
    Docket and back for it."""
    teams, scope = await services.reads.run(agent_reach, agent.tenant, agent.id)
    return dataclasses.replace(agent, teams=teams, agent_scope=scope)
