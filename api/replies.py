"""A ticket's conversation: public replies and staff-only internal notes."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from api.schemas import NewReply
from api.tickets import Caller, Page, PageSize, TicketId, Used
from commands.deferred import run_deferred
from commands.structs import AddReply, Replied
from commands.tickets import add_reply
from projections.conversation_queries import ReplyPage, list_replies


class ReplyController(Controller):
    path = "/api/v1/tickets/{ticket_id:uuid}/replies"
    tags = ["replies"]

    @post("/", operation_id="addReply", summary="Reply to a ticket, or add an internal note")
    async def add(self, ticket_id: TicketId, data: JSONBody[NewReply], actor: Caller, services: Used) -> Replied:
        command = AddReply(actor=actor, ticket_id=ticket_id, body=data.body, internal=data.internal, is_solution=data.is_solution)
        return await run_deferred(lambda: add_reply(services.app, command))

    @get("/", operation_id="listReplies", summary="A ticket's replies, oldest first")
    async def list(self, ticket_id: TicketId, actor: Caller, services: Used, page: Page = 1, page_size: PageSize = 50) -> ReplyPage:
        return await services.reads.run(list_replies, actor, ticket_id, page, page_size)
