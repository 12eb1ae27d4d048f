"""The fields of a ticket record and the rules each value must meet."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from domain.errors import Invalid
from domain.permissions import Actor, Role

PRIORITIES = ("low", "medium", "high", "urgent")
SEVERITIES = ("minor", "moderate", "major", "critical")
# What an edit may change; everything else changes through its own command.
EDITABLE = (
    "title", "description", "priority", "severity", "category", "ticket_type", "tags", "watchers", "address", "ward", "location",
    "custom_fields",
)  # fmt: skip
# Personal data an administrator may redact.
REDACTABLE = ("reporter_name", "reporter_phone", "reporter_email", "address", "location")

MAX_TEXT = {"title": 200, "description": 20_000, "category": 100, "ticket_type": 100, "address": 500}
MAX_LIST = 50
LABEL = re.compile(r"^[\w.:@/-]{1,64}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")


def required_text(name: str, value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise Invalid(f"The {name} must not be empty.", code="missing_field", field=name)
    return _bounded(name, text)


def optional_text(name: str, value: Any) -> str | None:
    text = str(value or "").strip()
    return _bounded(name, text) if text else None


def one_of(name: str, value: Any, allowed: tuple[str, ...], *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if value not in allowed:
        raise Invalid(f"Unknown {name} '{value}'; one of: {', '.join(allowed)}.", code=f"unknown_{name}", field=name)
    return value


def labels(name: str, values: Iterable[Any] | None) -> list[str]:
    """Tags or watcher ids: trimmed, without repeats, in the order given."""
    cleaned = list(dict.fromkeys(str(v).strip() for v in values or ()))
    bad = [v for v in cleaned if not LABEL.match(v)]
    if bad:
        raise Invalid(f"The {name} entry '{bad[0]}' must be 1-64 letters, digits or . : @ / - _.", code="invalid_label", field=name)
    if len(cleaned) > MAX_LIST:
        raise Invalid(f"At most {MAX_LIST} {name} are allowed.", code="too_many", field=name)
    return cleaned


def location(value: Mapping[str, Any] | None) -> dict[str, float] | None:
    if value is None:
        return None
    lat, lon = value.get("lat"), value.get("lon")
    if not (_number(lat) and _number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid("A location needs lat within -90..90 and lon within -180..180.", code="bad_location", field="location")
    return {"lat": float(lat), "lon": float(lon)}


def custom_fields(value: Mapping[str, Any] | None) -> dict[str, Any]:
    fields = dict(value or {})
    for key, item in fields.items():
        if not FIELD_NAME.match(key):
            raise Invalid(
                f"Custom field name '{key}' must be lower-case letters, digits and _.", code="invalid_custom_field", field="custom_fields"
            )
        if not isinstance(item, str | int | float | bool) and item is not None:
            raise Invalid(
                f"Custom field '{key}' must hold text, a number, true/false or null.",
                code="invalid_custom_field",
                field=f"custom_fields.{key}",
            )
    return fields


def contact(name: Any, phone: Any, email: Any) -> dict[str, str | None]:
    phone, email = optional_text("reporter phone", phone), optional_text("reporter email", email)
    if phone and not PHONE.match(phone):
        raise Invalid(f"'{phone}' is not a phone number.", code="invalid_phone", field="reporter.phone")
    if email and not EMAIL.match(email):
        raise Invalid(f"'{email}' is not an email address.", code="invalid_email", field="reporter.email")
    return {"reporter_name": optional_text("reporter name", name), "reporter_phone": phone, "reporter_email": email}


def opening_record(actor: Actor, details: dict[str, Any]) -> dict[str, Any]:
    """The checked record of a new ticket. A reporter always reports for themselves; staff may
    open a ticket on a reporter's behalf by naming them."""
    reporter = details.get("reporter") or {}
    reporter_id = actor.id if actor.role is Role.REPORTER else (optional_text("reporter id", reporter.get("id")) or actor.id)
    return {
        "title": required_text("title", details.get("title")),
        "description": required_text("description", details.get("description")),
        "category": required_text("category", details.get("category")),
        "priority": one_of("priority", details.get("priority", "medium"), PRIORITIES),
        "severity": one_of("severity", details.get("severity"), SEVERITIES, optional=True),
        "ticket_type": optional_text("ticket_type", details.get("ticket_type")),
        "reporter_id": reporter_id,
        **contact(reporter.get("name"), reporter.get("phone"), reporter.get("email")),
        "location": location(details.get("location")),
        "address": optional_text("address", details.get("address")),
        "ward": optional_text("ward", details.get("ward")),
        "tags": labels("tags", details.get("tags")),
        "watchers": labels("watchers", details.get("watchers")),
        "custom_fields": custom_fields(details.get("custom_fields")),
        "is_sensitive": bool(details.get("is_sensitive", False)),
    }


def edited_value(name: str, value: Any) -> Any:
    """The value an edit of `name` records, checked by the same rule as at opening."""
    if name not in EDITABLE:
        raise Invalid(f"The field '{name}' cannot be edited; editable: {', '.join(EDITABLE)}.", code="not_editable", field=name)
    match name:
        case "title" | "description" | "category":
            return required_text(name, value)
        case "ticket_type" | "address" | "ward":
            return optional_text(name, value)
        case "location":
            return location(value)
        case "priority":
            return one_of("priority", value, PRIORITIES)
        case "severity":
            return one_of("severity", value, SEVERITIES, optional=True)
        case "tags" | "watchers":
            return labels(name, value)
        case "custom_fields":
            return custom_fields(value)


def _bounded(name: str, text: str) -> str:
    limit = MAX_TEXT.get(name, 200)
    if len(text) > limit:
        raise Invalid(f"The {name} must be at most {limit} characters.", code="too_long", field=name.replace(" ", "."))
    return text


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
