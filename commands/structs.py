"""Commands: what a caller asks for, with who is asking. A new field always has a default."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from domain.permissions import Actor


class Location(msgspec.Struct, frozen=True):
    lat: float
    lon: float


class OpenTicket(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    title: str
    description: str
    category: str
    priority: str = "medium"
    ward: str | None = None
    location: Location | None = None
    workflow: str = "municipal"
    is_sensitive: bool = False


class ChangeStatus(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    ticket_id: UUID
    status: str
    note: str | None = None
    expected_version: int | None = None


class Opened(msgspec.Struct, frozen=True):
    """What open_ticket answers: enough for the caller to find the ticket again."""

    id: UUID
    tracking_number: str
    status: str
    created_at: datetime
    notification_id: int


class Changed(msgspec.Struct, frozen=True):
    id: UUID
    status: str
    version: int
    notification_id: int
