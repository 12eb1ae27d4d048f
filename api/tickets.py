"""The tickets resource: commands go to use cases, reads to the `tickets` read model."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter

from api.as_of import AsOf, AsOfVersion, detail_as_of
from api.schemas import NewTicket, Reasoned, Redaction, StatusChange, TicketEdit, Transfer
from api.services import Services
from commands.deferred import run_deferred
from commands.sensitivity import mark_sensitive
from commands.structs import (
    ArchiveTicket,
    Changed,
    ChangeStatus,
    EditTicket,
    EraseReporter,
    Location,
    MarkSensitive,
    Opened,
    OpenTicket,
    RedactField,
    Reporter,
    TransferTicket,
)
from commands.tickets import archive_ticket, change_status, edit_ticket, erase_reporter, open_ticket, redact_field, transfer_ticket
from domain.permissions import Actor
from projections.ticket_lists import CLOSED_SETS, ORDERS, SORTS, TicketFilters, list_tickets
from projections.ticket_queries import HistoryPage, TicketDetail, TicketPage, get_ticket, ticket_history

Page = Annotated[int, QueryParameter(ge=1, description="Page number, from 1")]
PageSize = Annotated[int, QueryParameter(ge=1, le=200, description="Items per page, at most 200")]
TicketId = FromPath[UUID]
TicketRef = Annotated[str, PathParameter(max_length=64, description="The ticket's id (a UUID) or its tracking number (e.g. TKT-000123)")]
Caller = NamedDependency[Actor]
Used = NamedDependency[Services]
MAX_VALUES = 100


def any_of(description: str, values: tuple[str, ...] = ()) -> Any:
    """A filter that may be repeated (`status=open&status=in_progress`) and matches any of its values.
    Its values are checked by the query, which names the accepted ones; the schema lists them too."""
    items = {"type": "string", **({"enum": list(values)} if values else {})}
    array = {"type": "array", "items": items, "maxItems": MAX_VALUES}
    return QueryParameter(description=description, max_items=MAX_VALUES, schema_extra={"oneOf": [array, {"type": "null"}]})


def choice(description: str, values: tuple[str, ...], optional: bool = False) -> Any:
    one = {"type": "string", "enum": list(values)}
    return QueryParameter(description=description, schema_extra={"oneOf": [one, {"type": "null"}]} if optional else one)


Statuses = Annotated[list[str] | None, any_of("Any of these statuses, of any workflow of the tenant (built-in or its own)")]
StatusCategories = Annotated[list[str] | None, any_of("Any of these status categories", CLOSED_SETS["status_category"])]
Categories = Annotated[list[str] | None, any_of("Any of these categories")]
Priorities = Annotated[list[str] | None, any_of("Any of these priorities", CLOSED_SETS["priority"])]
Severities = Annotated[list[str] | None, any_of("Any of these severities", CLOSED_SETS["severity"])]
Wards = Annotated[list[str] | None, any_of("Any of these wards")]
TeamIds = Annotated[list[str] | None, any_of("Held by any of these teams")]
AssigneeIds = Annotated[list[str] | None, any_of("Assigned to any of these people")]
TicketTypes = Annotated[list[str] | None, any_of("Any of these ticket types")]
ReporterIds = Annotated[list[str] | None, any_of("Reported by any of these people (the subscriber, the customer)")]
SearchText = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        description="Words, prefixes of words (`pothol`) and parts of tracking numbers, titles and descriptions (`00012`),"
        ' each to be found; whole-word matches ranked first; `"phrases"` and `-not` work',
    ),
]
SLAStatuses = Annotated[list[str] | None, any_of("Any of these SLA statuses, as of now", CLOSED_SETS["sla_status"])]
SortBy = Annotated[str | None, choice("Sort key; by relevance when searching, else created_at", tuple(SORTS), optional=True)]
Order = Annotated[str, choice("Sort direction", ORDERS)]
IncludeSensitive = Annotated[
    bool, QueryParameter(description="Administrators: list sensitive tickets too (left out unless asked; other roles: no effect)")
]


def search_text(q: str | None, search: str | None) -> str | None:
    """`search` is another name for `q` (the dashboards of seed 003 say `search`); both at once is
    a mistake to name rather than to guess at."""
    if q is not None and search is not None and q != search:
        raise ValidationException("Give q or search, not both.", extra=[{"key": "search", "message": "Give q or search, not both."}])
    return q if q is not None else search


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]

    @post("/", operation_id="openTicket", summary="Open a ticket")
    async def open(self, data: JSONBody[NewTicket], actor: Caller, services: Used) -> Opened:
        body = msgspec.structs.asdict(data)
        body["location"] = Location(lat=data.location.lat, lon=data.location.lon) if data.location else None
        body["reporter"] = Reporter(**msgspec.structs.asdict(data.reporter)) if data.reporter else None
        command = OpenTicket(actor=actor, **body)
        return await run_deferred(lambda: open_ticket(services.app, command, services.workload))

    @get("/", operation_id="listTickets", summary="List and search tickets (archived ones left out)")
    async def list(
        self,
        actor: Caller,
        services: Used,
        status: Statuses = None,
        status_category: StatusCategories = None,
        category: Categories = None,
        priority: Priorities = None,
        severity: Severities = None,
        ward: Wards = None,
        assigned_team_id: TeamIds = None,
        assignee_id: AssigneeIds = None,
        sla_status: SLAStatuses = None,
        ticket_type: TicketTypes = None,
        reporter_id: ReporterIds = None,
        tags: Annotated[list[str] | None, QueryParameter(description="Tickets carrying every one of these tags")] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        updated_from: FromQuery[datetime | None] = None,
        updated_to: FromQuery[datetime | None] = None,
        q: SearchText = None,
        search: Annotated[str | None, QueryParameter(max_length=200, description="Another name for `q`")] = None,
        sort_by: SortBy = None,
        order: Order = "desc",
        page: Page = 1,
        page_size: PageSize = 50,
        include_sensitive: IncludeSensitive = False,
    ) -> TicketPage:
        filters = TicketFilters(
            include_sensitive=include_sensitive,
            status=status or [],
            status_category=status_category or [],
            category=category or [],
            priority=priority or [],
            severity=severity or [],
            ward=ward or [],
            assigned_team_id=assigned_team_id or [],
            assignee_id=assignee_id or [],
            sla_status=sla_status or [],
            ticket_type=ticket_type or [],
            reporter_id=reporter_id or [],
            tags=tags or [],
            created_from=created_from,
            created_to=created_to,
            updated_from=updated_from,
            updated_to=updated_to,
            q=search_text(q, search),
            sort_by=sort_by,
            order=order,
        )
        return await services.reads.run(list_tickets, actor, filters, page, page_size)

    @get(
        "/{ticket_id:str}",
        operation_id="getTicket",
        summary="One ticket, by id or tracking number: its full record and assignment history",
    )
    async def detail(
        self, ticket_id: TicketRef, actor: Caller, services: Used, as_of: AsOf = None, as_of_version: AsOfVersion = None
    ) -> TicketDetail:
        if as_of is not None or as_of_version is not None:
            return await asyncio.to_thread(detail_as_of, services, actor, ticket_id, as_of, as_of_version)  # replays events
        return await services.reads.run(get_ticket, actor, ticket_id)

    @patch(
        "/{ticket_id:uuid}",
        operation_id="editTicket",
        summary="Change fields of a ticket; each change is recorded old and new",
    )
    async def edit(self, ticket_id: TicketId, data: JSONBody[TicketEdit], actor: Caller, services: Used) -> Changed:
        command = EditTicket(actor=actor, ticket_id=ticket_id, changes=data.changes(), expected_version=data.expected_version)
        return await run_deferred(lambda: edit_ticket(services.app, command))

    @delete(
        "/{ticket_id:uuid}",
        operation_id="archiveTicket",
        summary="Archive a ticket: gone from lists, kept in the audit trail",
        status_code=200,
    )
    async def archive(self, ticket_id: TicketId, actor: Caller, services: Used, reason: FromQuery[str | None] = None) -> Changed:
        command = ArchiveTicket(actor=actor, ticket_id=ticket_id, reason=reason)
        return await run_deferred(lambda: archive_ticket(services.app, command))

    @patch("/{ticket_id:uuid}/status", operation_id="changeTicketStatus", summary="Move a ticket to another status")
    async def change_status(self, ticket_id: TicketId, data: JSONBody[StatusChange], actor: Caller, services: Used) -> Changed:
        command = ChangeStatus(
            actor=actor,
            ticket_id=ticket_id,
            status=data.status,
            note=data.note,
            note_public=data.note_public,
            fields=data.transition_fields(),
            expected_version=data.expected_version,
        )
        return await run_deferred(lambda: change_status(services.app, command))

    @post(
        "/{ticket_id:uuid}/transfer",
        operation_id="transferTicket",
        summary="Hand a ticket to another person",
        status_code=200,
    )
    async def transfer(self, ticket_id: TicketId, data: JSONBody[Transfer], actor: Caller, services: Used) -> Changed:
        command = TransferTicket(
            actor=actor, ticket_id=ticket_id, assignee_id=data.assignee_id, reason=data.reason, expected_version=data.expected_version
        )
        return await run_deferred(lambda: transfer_ticket(services.app, command))

    @post(
        "/{ticket_id:uuid}/redactions",
        operation_id="redactTicketField",
        summary="Redact a personal field (admin)",
        status_code=200,
    )
    async def redact(self, ticket_id: TicketId, data: JSONBody[Redaction], actor: Caller, services: Used) -> Changed:
        command = RedactField(actor=actor, ticket_id=ticket_id, field=data.field, reason=data.reason)
        return await run_deferred(lambda: redact_field(services.app, command))

    @post(
        "/{ticket_id:uuid}/sensitive",
        operation_id="markTicketSensitive",
        summary="Make a ticket sensitive, for good (liaison, admin, manager): it leaves every ordinary list, figure and subject",
        status_code=200,
    )
    async def mark_sensitive(self, ticket_id: TicketId, data: JSONBody[Reasoned], actor: Caller, services: Used) -> Changed:
        command = MarkSensitive(actor=actor, ticket_id=ticket_id, reason=data.reason)
        return await run_deferred(lambda: mark_sensitive(services.app, services.workload, command))

    @post(
        "/{ticket_id:uuid}/erasure",
        operation_id="eraseTicketReporter",
        summary="Erase the reporter for good (admin): their name, phone, email, the address and location read '[erased]' everywhere",
        status_code=200,
        sync_to_thread=True,  # not deferred: its answer deletes the ticket's key, which must not wait on the event loop
    )
    def erase(self, ticket_id: TicketId, data: JSONBody[Reasoned], actor: Caller, services: Used) -> Changed:
        return erase_reporter(services.app, EraseReporter(actor=actor, ticket_id=ticket_id, reason=data.reason))

    @get(
        "/{ticket_id:str}/history",
        operation_id="getTicketHistory",
        summary="A ticket's events in order, by id or tracking number",
    )
    async def history(self, ticket_id: TicketRef, actor: Caller, services: Used, page: Page = 1, page_size: PageSize = 200) -> HistoryPage:
        return await services.reads.run(ticket_history, actor, ticket_id, page, page_size)
