"""The audit trail for auditors and administrators: the event store itself, not a read model.

`GET /audit/events` answers a page as JSON, or with `Accept: application/x-ndjson` streams one event
a line up to `limit`, reading the store a batch at a time. `GET /tickets/{id}/events` is one ticket's
stream. `GET /audit/public-key` is the key that signs the chain's checkpoints and exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, put
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from sqlalchemy import select

from api.services import Services
from api.tickets import Caller, TicketRef, Used
from commands.audit import AuditClearance, ClearAuditors, auditors_cleared, clear_auditors
from domain.audit_access import AuditScope, audit_scope
from domain.errors import Invalid, NotFound, TicketNotFound
from domain.permissions import Action, Actor, require
from projections.audit_checkpoints import PublicKey, public_keys
from projections.audit_log import (
    MAX_LIMIT,
    AuditEvent,
    AuditFilters,
    AuditPage,
    audit_page,
    audit_stream,
    check_filters,
    ticket_stream_scope,
)
from projections.row_security import as_docket
from projections.ticket_queries import tickets

NDJSON = "application/x-ndjson"
MAX_STREAM = 100_000_000  # events one NDJSON answer may stream
DEFAULT_PAGE, DEFAULT_STREAM = 100, 1_000_000

After = Annotated[int, QueryParameter(ge=0, le=2**63 - 1, description="Events after this notification id (0: from the first)")]
Limit = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=MAX_STREAM,
        description=f"Events at most: {DEFAULT_PAGE} by default, up to {MAX_LIMIT} as JSON; as NDJSON {DEFAULT_STREAM:,} by default, up to {MAX_STREAM:,}",
    ),
]
Types = Annotated[
    list[str] | None,
    QueryParameter(
        description="Only these events: a name (StatusChanged) or aggregate and name (Team.TeamCreated); repeatable", max_items=100
    ),
]
# Taken as text and read in _moment, so that a time that is not one is reported under the name the
# caller used (`from`, `to`) rather than the handler's parameter name.
Since = Annotated[
    str | None,
    QueryParameter(name="from", format=OpenAPIFormat.DATE_TIME, description="Events at or after this time (ISO 8601; without a zone, UTC)"),
]
Until = Annotated[
    str | None,
    QueryParameter(name="to", format=OpenAPIFormat.DATE_TIME, description="Events at or before this time (ISO 8601; without a zone, UTC)"),
]


class NDJSONStream(Stream):
    """A stream that keeps its own media type: Litestar gives a handler's (JSON) precedence."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        return super().to_asgi_response(*args, **{**kwargs, "media_type": NDJSON})


class Clearance(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    auditors_see_sensitive: bool


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get(
        "/events",
        operation_id="listAuditEvents",
        summary="The tenant's events from the event store, in order, each with its chain hash (auditor, admin); NDJSON on Accept: application/x-ndjson",
        sync_to_thread=True,
    )
    def events(
        self,
        request: Request,
        actor: Caller,
        services: Used,
        after: After = 0,
        limit: Limit = None,
        type: Types = None,  # noqa: A002 - the parameter's public name
        aggregate_id: FromQuery[UUID | None] = None,
        since: Since = None,
        until: Until = None,
    ) -> AuditPage:
        scope = _scope(services, actor)
        filters = AuditFilters(types=type or [], aggregate_id=aggregate_id, since=_moment("from", since), until=_moment("to", until))
        return _answer(request, services, scope, after, limit, filters)

    @get(
        "/public-key",
        operation_id="auditPublicKey",
        summary="The key that signs audit checkpoints and exports (PEM)",
        security=[],
        sync_to_thread=True,
    )
    def public_key(self, services: Used) -> PublicKey:
        keys = public_keys(services.app.recorder.datastore)
        if not keys:
            raise NotFound("No audit key has signed yet: the projector registers it when it starts.", code="no_audit_key")
        return keys[0]

    @get(
        "/settings",
        operation_id="getAuditSettings",
        summary="Whether auditors read sensitive tickets' events (auditor, admin)",
        sync_to_thread=True,
    )
    def settings(self, actor: Caller, services: Used) -> Clearance:
        require(actor, Action.READ_AUDIT_TRAIL)
        return Clearance(auditors_cleared(services.app, actor.tenant))

    @put(
        "/settings",
        operation_id="setAuditSettings",
        summary="Clear auditors for sensitive tickets' events, or not (admin)",
        sync_to_thread=True,
    )
    def set_settings(self, data: JSONBody[Clearance], actor: Caller, services: Used) -> AuditClearance:
        return clear_auditors(services.app, ClearAuditors(actor=actor, auditors_see_sensitive=data.auditors_see_sensitive))


class TicketEventsController(Controller):
    path = "/api/v1/tickets/{ticket_id:str}/events"
    tags = ["audit"]

    @get(
        "/",
        operation_id="listTicketEvents",
        summary="One ticket's events from the event store, each with its chain hash (auditor, admin); NDJSON on Accept: application/x-ndjson",
        sync_to_thread=True,
    )
    def events(
        self, request: Request, ticket_id: TicketRef, actor: Caller, services: Used, after: After = 0, limit: Limit = None
    ) -> AuditPage:
        scope = _scope(services, actor)
        ticket = _ticket_id(services, actor, ticket_id)
        ticket_stream_scope(services.app, scope, ticket, ticket_id)
        return _answer(request, services, scope, after, limit, AuditFilters(aggregate_id=ticket))


def _scope(services: Services, actor: Actor) -> AuditScope:
    require(actor, Action.READ_AUDIT_TRAIL)
    return audit_scope(actor, auditors_cleared(services.app, actor.tenant))


def _ticket_id(services: Services, actor: Actor, ticket: str) -> UUID:
    """A UUID as it is; a tracking number looked up in the read model, within the caller's tenant.
    Whether the caller may read the ticket's events is the audit scope's to say, not the read
    model's: an auditor cleared for sensitive tickets reads theirs by number too."""
    try:
        return UUID(ticket)
    except ValueError:
        pass
    with as_docket(), services.engine.connect() as conn:  # found whatever the read model's fence says of the caller
        number = tickets.c.tracking_number == ticket.strip().upper()  # as the detail finds it, whatever its case
        found = conn.execute(select(tickets.c.id).where(tickets.c.tenant == actor.tenant, number)).scalar()
    if found is None:
        raise TicketNotFound(ticket)
    return found


def _answer(request: Request, services: Services, scope: AuditScope, after: int, limit: int | None, filters: AuditFilters) -> AuditPage:
    if NDJSON not in (request.headers.get("accept") or ""):
        return audit_page(services.app, scope, after, limit or DEFAULT_PAGE, filters)
    limit = limit or DEFAULT_STREAM
    check_filters(filters, after, limit, MAX_STREAM)  # refused with a 400 before the stream starts
    return NDJSONStream(_lines(audit_stream(services.app, scope, after, limit, filters)), media_type=NDJSON)  # type: ignore[return-value]


_encoder = msgspec.json.Encoder()


def _lines(batches: Iterator[list[AuditEvent]]) -> Iterator[bytes]:
    """A chunk of lines per batch read: each chunk is read in a thread of its own, not each line."""
    for batch in batches:
        yield b"".join(_encoder.encode(item) + b"\n" for item in batch)


def _moment(field: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        raise Invalid(
            f"{field}: '{value[:100]}' is not a time; give it as ISO 8601 (2026-01-31T09:00:00Z).", code="invalid_input", field=field
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
