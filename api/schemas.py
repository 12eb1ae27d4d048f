"""Request bodies, validated by msgspec before a handler runs."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Note = Annotated[str, msgspec.Meta(max_length=5_000)]
Priority = Literal["low", "medium", "high", "urgent"]


class LocationBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class NewTicket(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: Text
    description: LongText
    category: Name
    priority: Priority = "medium"
    ward: Name | None = None
    location: LocationBody | None = None
    is_sensitive: bool = False


class StatusChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: Name
    note: Note | None = None
    expected_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
