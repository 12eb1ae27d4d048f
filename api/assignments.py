"""Who holds a ticket: assign (or route), accept, reject, unassign; and the caller's own queue."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from api.schemas import AssignBody, RejectBody, UnassignBody
from api.tickets import Caller, IncludeSensitive, Page, PageSize, TicketId, Used
from commands.assignments import accept_ticket, assign_ticket, reject_ticket, unassign_ticket
from commands.deferred import run_deferred
from commands.structs import AcceptTicket, Assignment, AssignTicket, RejectTicket, UnassignTicket
from projections.team_queries import my_queue
from projections.ticket_queries import TicketPage


class AssignmentController(Controller):
    path = "/api/v1/tickets/{ticket_id:uuid}"
    tags = ["assignment"]

    @post(
        "/assign",
        operation_id="assignTicket",
        summary="Route a ticket by the rules, or give it to a team and person",
        status_code=200,
    )
    async def assign(self, ticket_id: TicketId, data: JSONBody[AssignBody], actor: Caller, services: Used) -> Assignment:
        command = AssignTicket(
            actor=actor,
            ticket_id=ticket_id,
            team_id=data.team_id,
            assignee_id=data.assignee_id,
            reason=data.reason,
            expected_version=data.expected_version,
        )
        return await run_deferred(lambda: assign_ticket(services.app, services.workload, command, services.member_teams))

    @post("/accept", operation_id="acceptTicket", summary="The assignee takes the ticket on", status_code=200)
    async def accept(self, ticket_id: TicketId, actor: Caller, services: Used) -> Assignment:
        command = AcceptTicket(actor=actor, ticket_id=ticket_id)
        return await run_deferred(lambda: accept_ticket(services.app, command))

    @post(
        "/reject",
        operation_id="rejectTicket",
        summary="The assignee turns the ticket down, saying why",
        status_code=200,
    )
    async def reject(self, ticket_id: TicketId, data: JSONBody[RejectBody], actor: Caller, services: Used) -> Assignment:
        command = RejectTicket(actor=actor, ticket_id=ticket_id, reason=data.reason, expected_version=data.expected_version)
        return await run_deferred(lambda: reject_ticket(services.app, services.workload, command))

    @post(
        "/unassign",
        operation_id="unassignTicket",
        summary="Take the ticket from its assignee (admin)",
        status_code=200,
    )
    async def unassign(self, ticket_id: TicketId, data: JSONBody[UnassignBody], actor: Caller, services: Used) -> Assignment:
        command = UnassignTicket(actor=actor, ticket_id=ticket_id, reason=data.reason, expected_version=data.expected_version)
        return await run_deferred(lambda: unassign_ticket(services.app, command))


class QueueController(Controller):
    path = "/api/v1/me/queue"
    tags = ["assignment"]

    @get("/", operation_id="myQueue", summary="The caller's assigned, accepted and in-progress tickets")
    async def queue(
        self, actor: Caller, services: Used, page: Page = 1, page_size: PageSize = 50, include_sensitive: IncludeSensitive = False
    ) -> TicketPage:
        return await services.reads.run(my_queue, actor, page, page_size, include_sensitive)
