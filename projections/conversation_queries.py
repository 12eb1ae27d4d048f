"""Queries over a ticket's replies and attachments, inside the caller's view of the ticket."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from sqlalchemy import select

from domain.errors import NotFound
from domain.permissions import Action, Actor, may
from projections.pages import Page, fetch_page
from projections.reading import Connectable
from projections.sql import struct_from
from projections.ticket_queries import opened, visible_row
from projections.ticket_tables import LIVE

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
    query = select(replies).where(replies.c.ticket_id == ticket_id)
    if not may(actor.role, Action.READ_INTERNAL_NOTES):
        query = query.where(replies.c.internal.is_(False))
    return fetch_page(
        engine, query, [replies.c.version], page, page_size, lambda row: struct_from(ReplyView, row, body=opened(ticket, row["body"]))
    )


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
