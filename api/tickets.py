"""The tickets resource: commands go to use cases, reads to the `tickets` read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.schemas import NewTicket, StatusChange
from api.services import Services
from commands.structs import ChangeStatus, Changed, Location, OpenTicket, Opened
from commands.tickets import change_status, open_ticket
from domain.permissions import Actor
from projections.ticket_queries import HistoryPage, TicketFilters, TicketPage, TicketView, get_ticket, list_tickets, ticket_history

Page = Annotated[int, QueryParameter(ge=1, description="Page number, from 1")]
PageSize = Annotated[int, QueryParameter(ge=1, le=200, description="Items per page, at most 200")]


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]

    @post("/", operation_id="openTicket", summary="Open a ticket", sync_to_thread=True)
    def open(self, data: JSONBody[NewTicket], actor: NamedDependency[Actor], services: NamedDependency[Services]) -> Opened:
        location = Location(lat=data.location.lat, lon=data.location.lon) if data.location else None
        command = OpenTicket(
            actor=actor,
            title=data.title,
            description=data.description,
            category=data.category,
            priority=data.priority,
            ward=data.ward,
            location=location,
            is_sensitive=data.is_sensitive,
        )
        return open_ticket(services.app, command)

    @get("/", operation_id="listTickets", summary="List tickets, newest first", sync_to_thread=True)
    def list(
        self,
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
        status: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None,
        page: Page = 1,
        page_size: PageSize = 50,
    ) -> TicketPage:
        filters = TicketFilters(status=status, category=category)
        return list_tickets(services.engine, actor, filters, page, page_size)

    @get("/{ticket_id:uuid}", operation_id="getTicket", summary="One ticket", sync_to_thread=True)
    def detail(self, ticket_id: FromPath[UUID], actor: NamedDependency[Actor], services: NamedDependency[Services]) -> TicketView:
        return get_ticket(services.engine, actor, ticket_id)

    @patch("/{ticket_id:uuid}/status", operation_id="changeTicketStatus", summary="Move a ticket to another status", sync_to_thread=True)
    def change_status(self, ticket_id: FromPath[UUID], data: JSONBody[StatusChange], actor: NamedDependency[Actor], services: NamedDependency[Services]) -> Changed:
        command = ChangeStatus(
            actor=actor, ticket_id=ticket_id, status=data.status, note=data.note, expected_version=data.expected_version
        )
        return change_status(services.app, command)

    @get("/{ticket_id:uuid}/history", operation_id="getTicketHistory", summary="A ticket's events in order", sync_to_thread=True)
    def history(
        self, ticket_id: FromPath[UUID], actor: NamedDependency[Actor], services: NamedDependency[Services], page: Page = 1, page_size: PageSize = 200
    ) -> HistoryPage:
        return ticket_history(services.engine, actor, ticket_id, page, page_size)
