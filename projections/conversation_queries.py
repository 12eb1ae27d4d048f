"""Queries over a ticket's replies and attachments, inside the caller's view of the ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from domain.errors import NotFound
from domain.permissions import Action, Actor, may
from projections.ticket_queries import visible_row
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


class ReplyPage(msgspec.Struct, frozen=True):
    items: list[ReplyView]
    total: int
    page: int
    page_size: int
    page_count: int


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


def list_replies(engine: Engine, actor: Actor, ticket_id: UUID, page: int, page_size: int) -> ReplyPage:
    """The conversation, oldest first; internal notes only for those who may read them."""
    visible_row(engine, actor, ticket_id)
    query = select(replies).where(replies.c.ticket_id == ticket_id)
    if not may(actor.role, Action.READ_INTERNAL_NOTES):
        query = query.where(replies.c.internal.is_(False))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = conn.execute(query.order_by(replies.c.version).limit(page_size).offset((page - 1) * page_size)).mappings().all()
    return ReplyPage(
        items=[_struct(ReplyView, row) for row in rows],
        total=total,
        page=page,
        page_size=page_size,
        page_count=-(-total // page_size),
    )


def list_attachments(engine: Engine, actor: Actor, ticket_id: UUID) -> list[AttachmentView]:
    visible_row(engine, actor, ticket_id)
    query = select(attachments).where(attachments.c.ticket_id == ticket_id).order_by(attachments.c.at, attachments.c.id)
    with engine.connect() as conn:
        return [_struct(AttachmentView, row) for row in conn.execute(query).mappings()]


def get_attachment(engine: Engine, actor: Actor, ticket_id: UUID, attachment_id: UUID) -> AttachmentView:
    visible_row(engine, actor, ticket_id)
    query = select(attachments).where(attachments.c.ticket_id == ticket_id, attachments.c.id == attachment_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"Ticket {ticket_id} has no attachment {attachment_id}.", code="attachment_not_found")
    return _struct(AttachmentView, row)


def _struct(kind: type, row: Any) -> Any:
    return kind(**{name: row[name] for name in kind.__struct_fields__})
