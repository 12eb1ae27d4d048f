"""Dependencies shared by the controllers: the caller's identity and the services."""

from __future__ import annotations

from litestar import Request

from api.services import Services
from domain.permissions import Actor


def provide_actor(request: Request, services: Services) -> Actor:
    return services.tokens.actor_from_header(request.headers.get("authorization"))
