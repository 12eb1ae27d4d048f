"""A ticket's deliveries, from the notifier's delivery record (commands/deliveries.py), as the
caller may see them: staff and auditors all of them, a reporter those that went to them;
every recipient masked, never a message's text."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from sqlalchemy import select, text

from commands.deliveries import deliveries
from domain.permissions import Action, Actor, Role, require
from projections.pages import Page, check_page, fetch_page
from projections.reading import Connectable
from projections.sql import struct_from
from projections.ticket_queries import visible_row


class DeliveryView(msgspec.Struct, frozen=True):
    id: UUID
    ticket_id: UUID
    notification_id: int  # the event that made it
    event: str
    recipient: str  # masked: +2782*****12, a***@example.org
    recipient_kind: str  # reporter, assignee, team_manager, address, webhook
    channel: str
    template: str
    status: str  # pending, sent, failed, dead, suppressed
    attempts: int
    created_at: datetime
    updated_at: datetime
    rule: str | None = None  # the tenant's rule that made it (not shown to reporters)
    provider_message_id: str | None = None
    last_error: str | None = None  # or why it was kept back
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


DeliveryPage = Page[DeliveryView]
COLUMNS = [deliveries.c[name] for name in DeliveryView.__struct_fields__]
_table_seen = False


def ticket_notifications(engine: Connectable, actor: Actor, ticket: UUID | str, page: int, page_size: int) -> DeliveryPage:
    require(actor, Action.READ_DELIVERIES)
    ticket_id = visible_row(engine, actor, ticket)["id"]
    check_page(page, page_size)
    if not _table_exists(engine):
        return DeliveryPage(items=[], total=0, page=page, page_size=page_size, page_count=0)
    reporter = actor.role is Role.REPORTER
    query = select(*COLUMNS).where(deliveries.c.ticket_id == ticket_id, deliveries.c.tenant == actor.tenant)
    if reporter:
        query = query.where(deliveries.c.recipient_kind == "reporter")
    order = [deliveries.c.created_at, deliveries.c.notification_id, deliveries.c.id]
    return fetch_page(
        engine, query, order, page, page_size, lambda row: struct_from(DeliveryView, row, **({"rule": None} if reporter else {}))
    )


def _table_exists(engine: Connectable) -> bool:
    """Whether a notifier has made the record yet (once it has, it stays)."""
    global _table_seen
    if not _table_seen:
        with engine.connect() as conn:
            _table_seen = conn.execute(text("SELECT to_regclass('notification_deliveries')")).scalar() is not None
    return _table_seen
