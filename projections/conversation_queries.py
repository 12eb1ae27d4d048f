"""Queries over a ticket's replies and attachments, inside the caller's view of the ticket."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, select

from domain.errors import NotFound
from domain.permissions import Action, Actor, may
from projections.pages import Page, by_name, fetch_prepared_page, prepared_statements
from projections.reading import Connectable
from projections.sql import Prepared, struct_from
from projections.ticket_queries import opened, visible_row
from projections.ticket_tables import LIVE
from projections.totals import TOTALS

replies = LIVE.replies
attachments = LIVE.attachments


class ReplyView(msgspec.Struct, frozen=True):
    id: UUID
    author: str
    role: str
    body: str
    internal: bool
    is_solution: bool
    at: datetime
    version: int


ReplyPage = Page[ReplyView]


class AttachmentView(msgspec.Struct, frozen=True):
    id: UUID
    ticket_id: UUID
    name: str
    content_type: str
    size: int
    kind: str
    sha256: str
    added_by: str
    at: datetime


def list_replies(engine: Connectable, actor: Actor, ticket_id: UUID, page: int, page_size: int) -> ReplyPage:
    """The conversation, oldest first; internal notes only for those who may read them."""
    ticket = visible_row(engine, actor, ticket_id)
    count, rows = reply_statements(may(actor.role, Action.READ_INTERNAL_NOTES))

    def view(row: dict[str, Any]) -> ReplyView:
        return struct_from(ReplyView, row, body=opened(ticket, row["body"]))

    return fetch_prepared_page(engine, count, rows, {"ticket_id": ticket["id"]}, page, page_size, by_name(view), TOTALS)


@functools.cache
def reply_statements(internal: bool) -> tuple[Prepared, Prepared]:
    """A ticket's replies (parameter: ticket_id), internal notes among them or not, compiled once."""
    query = select(replies).where(replies.c.ticket_id == bindparam("ticket_id"))
    if not internal:
        query = query.where(replies.c.internal.is_(False))
    return prepared_statements(query, [replies.c.version])


def list_attachments(engine: Connectable, actor: Actor, ticket_id: UUID) -> list[AttachmentView]:
    ticket = visible_row(engine, actor, ticket_id)
    query = select(attachments).where(attachments.c.ticket_id == ticket_id).order_by(attachments.c.at, attachments.c.id)
    with engine.connect() as conn:
        return [struct_from(AttachmentView, row, name=opened(ticket, row["name"])) for row in conn.execute(query).mappings()]


def get_attachment(engine: Connectable, actor: Actor, ticket_id: UUID, attachment_id: UUID) -> AttachmentView:
    ticket = visible_row(engine, actor, ticket_id)
    query = select(attachments).where(attachments.c.ticket_id == ticket_id, attachments.c.id == attachment_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"Ticket {ticket_id} has no attachment {attachment_id}.", code="attachment_not_found")
    return struct_from(AttachmentView, row, name=opened(ticket, row["name"]))
