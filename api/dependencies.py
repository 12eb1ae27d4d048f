"""Dependencies shared by the controllers: the caller's identity and the services."""

from __future__ import annotations

from litestar import Request
from litestar.di import NamedDependency

from api.services import Services
from domain.permissions import Actor


def provide_actor(request: Request, services: NamedDependency[Services]) -> Actor:
    return services.tokens.actor_from_header(request.headers.get("authorization"))
