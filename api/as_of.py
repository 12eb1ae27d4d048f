"""`GET /api/v1/tickets/{id}?as_of=...` or `?as_of_version=...`: the ticket as it stood then."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar.params import QueryParameter

from api.services import Services
from domain.errors import Invalid
from domain.permissions import Actor
from projections.as_of import ticket_as_of
from projections.ticket_queries import TicketDetail

AsOf = Annotated[
    datetime | None,
    QueryParameter(description="The ticket as it stood at this time (ISO 8601; without a zone, UTC), replayed from its events"),
]
AsOfVersion = Annotated[
    int | None,
    QueryParameter(ge=1, le=2**31 - 1, description="The ticket as it stood after this version of it, replayed from its events"),
]


def detail_as_of(services: Services, actor: Actor, ticket: str, as_of: datetime | None, as_of_version: int | None) -> TicketDetail:
    if as_of is not None and as_of_version is not None:
        raise Invalid("Give as_of or as_of_version, not both.", code="invalid_input", field="as_of_version")
    moment = as_of.replace(tzinfo=UTC) if as_of is not None and as_of.tzinfo is None else as_of
    return ticket_as_of(services.app, services.engine, actor, ticket, moment=moment, version=as_of_version)
