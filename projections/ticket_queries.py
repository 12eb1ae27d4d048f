"""Queries over the `tickets` read model, always inside the caller's read scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine

from domain.errors import TicketNotFound
from domain.permissions import Action, Actor, ReadScope, TicketFacts, ensure_visible, read_scope, require
from projections.tickets import LIVE

tickets = LIVE.tickets
history = LIVE.history


class Location(msgspec.Struct, frozen=True):
    lat: float
    lon: float


class TicketView(msgspec.Struct, frozen=True):
    id: UUID
    tracking_number: str
    title: str
    description: str
    category: str
    priority: str
    status: str
    workflow: str
    ward: str | None
    location: Location | None
    reporter_id: str
    is_sensitive: bool
    created_at: datetime
    updated_at: datetime
    version: int


class HistoryEntry(msgspec.Struct, frozen=True):
    event: str
    at: datetime
    actor: str
    role: str
    version: int
    notification_id: int
    changes: dict[str, Any]
    note: str | None = None


class TicketPage(msgspec.Struct, frozen=True):
    items: list[TicketView]
    total: int
    page: int
    page_size: int
    page_count: int


class HistoryPage(msgspec.Struct, frozen=True):
    items: list[HistoryEntry]
    total: int
    page: int
    page_size: int
    page_count: int


class TicketFilters(msgspec.Struct, frozen=True):
    status: str | None = None
    category: str | None = None


def list_tickets(engine: Engine, actor: Actor, filters: TicketFilters, page: int, page_size: int) -> TicketPage:
    query = _scoped(select(tickets), read_scope(actor))
    if filters.status:
        query = query.where(tickets.c.status == filters.status)
    if filters.category:
        query = query.where(tickets.c.category == filters.category)
    count = select(func.count()).select_from(query.subquery())
    rows_query = query.order_by(tickets.c.created_at.desc(), tickets.c.id).limit(page_size).offset((page - 1) * page_size)
    with engine.connect() as conn:
        total = conn.execute(count).scalar_one()
        rows = conn.execute(rows_query).mappings().all()
    return TicketPage(
        items=[_view(row) for row in rows],
        total=total,
        page=page,
        page_size=page_size,
        page_count=-(-total // page_size),
    )


def get_ticket(engine: Engine, actor: Actor, ticket_id: UUID) -> TicketView:
    query = select(tickets).where(tickets.c.tenant == actor.tenant, tickets.c.id == ticket_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise TicketNotFound(ticket_id)
    facts = TicketFacts(tenant=row["tenant"], reporter_id=row["reporter_id"], ward=row["ward"], is_sensitive=row["is_sensitive"])
    ensure_visible(actor, ticket_id, facts)
    return _view(row)


def ticket_history(engine: Engine, actor: Actor, ticket_id: UUID, page: int, page_size: int) -> HistoryPage:
    require(actor, Action.READ_HISTORY)
    ticket = get_ticket(engine, actor, ticket_id)
    query = (
        select(history)
        .where(history.c.ticket_id == ticket_id)
        .order_by(history.c.version)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    items = [
        HistoryEntry(
            event=r["event"],
            at=r["at"],
            actor=r["actor"],
            role=r["role"],
            version=r["version"],
            notification_id=r["notification_id"],
            changes=r["changes"],
            note=r["note"],
        )
        for r in rows
    ]
    total = ticket.version
    return HistoryPage(items=items, total=total, page=page, page_size=page_size, page_count=-(-total // page_size))


def _scoped(query: Select, scope: ReadScope) -> Select:
    query = query.where(tickets.c.tenant == scope.tenant)
    if scope.reporter_id is not None:
        query = query.where(tickets.c.reporter_id == scope.reporter_id)
    if scope.ward is not None:
        query = query.where(tickets.c.ward == scope.ward)
    if not scope.sensitive:
        query = query.where(tickets.c.is_sensitive.is_(False))
    if not scope.ordinary:
        query = query.where(tickets.c.is_sensitive.is_(True))
    return query


def _view(row: Any) -> TicketView:
    location = Location(lat=row["lat"], lon=row["lon"]) if row["lat"] is not None else None
    return TicketView(
        id=row["id"],
        tracking_number=row["tracking_number"],
        title=row["title"],
        description=row["description"],
        category=row["category"],
        priority=row["priority"],
        status=row["status"],
        workflow=row["workflow"],
        ward=row["ward"],
        location=location,
        reporter_id=row["reporter_id"],
        is_sensitive=row["is_sensitive"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )
