"""Contact addresses: phone numbers kept in E.164, email addresses, and how either is shown.

A notification goes to an address someone typed, and an answer that lists deliveries shows it
to people who need to know that a message went, not where: so every address has a masked form.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from domain.errors import Invalid

# E.164: "+", a country code that does not start with 0, at most 15 digits in all. Numbers shorter
# than 8 digits are service codes, not someone's phone.
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
# What people type between the digits of a phone number.
PHONE_SEPARATORS = re.compile(r"[ \t().\-/\u00a0]")
MAX_PHONE_INPUT = 32
COUNTRY_CODE = re.compile(r"^[1-9][0-9]{0,2}$")

MAX_EMAIL = 254
EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
TOP_LEVEL = re.compile(r"^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$")


def normalise_phone(raw: str, country_code: str | None = None) -> str:
    """The number in E.164, whatever separators it was typed with. `00` stands for `+`; with a
    country code (digits, such as "27"), a national number's trunk 0 stands for `+27`. Anything
    else is not a number a message can go to: ValueError, saying why."""
    if not isinstance(raw, str) or len(raw) > MAX_PHONE_INPUT:
        raise ValueError(f"a phone number is at most {MAX_PHONE_INPUT} characters")
    typed = PHONE_SEPARATORS.sub("", raw.strip())
    if typed.startswith("+"):
        candidate = typed
    elif typed.startswith("00"):
        candidate = "+" + typed[2:]
    elif typed.startswith("0") and country_code and COUNTRY_CODE.match(country_code):
        candidate = f"+{country_code}{typed[1:]}"
    else:
        raise ValueError("a phone number starts with + and its country code (E.164), such as +27821234567")
    if not E164.match(candidate):
        raise ValueError("a phone number is + and 8 to 15 digits, the first not 0 (E.164)")
    return candidate


def normalise_email(raw: str) -> str:
    """The address with its domain in lower case; ValueError for anything a mail server would
    refuse or a header could be made of (spaces, line breaks, several @)."""
    if not isinstance(raw, str):
        raise ValueError("an email address is text")
    text = raw.strip()
    if not text or len(text) > MAX_EMAIL:
        raise ValueError(f"an email address is 3 to {MAX_EMAIL} characters")
    local, at, domain = text.rpartition("@")
    if not at or not EMAIL_LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError("an email address is name@domain, the name of letters, digits and !#$%&'*+/=?^_`{|}~.-")
    labels = domain.split(".")
    if len(labels) < 2 or not all(DOMAIN_LABEL.match(label) for label in labels) or not TOP_LEVEL.match(labels[-1]):
        raise ValueError("an email address's domain is dot-separated names, such as example.org")
    return f"{local}@{domain.lower()}"


def phone_field(field: str, raw: str | None, country_code: str | None = None) -> str | None:
    """A phone number given in a request: E.164, or a 400 naming the field."""
    if raw is None or not str(raw).strip():
        return None
    try:
        return normalise_phone(raw, country_code)
    except ValueError as error:
        raise Invalid(f"{field}: {error}.", code="invalid_phone", field=field) from None


def email_field(field: str, raw: str | None) -> str | None:
    """An email address given in a request, or a 400 naming the field."""
    if raw is None or not str(raw).strip():
        return None
    try:
        return normalise_email(raw)
    except ValueError as error:
        raise Invalid(f"{field}: {error}.", code="invalid_email", field=field) from None


def address_kind(address: str) -> str:
    """ "phone" for an E.164 number, "email" for an email address, "url" for a webhook."""
    if address.startswith("+"):
        return "phone"
    if address.startswith(("https://", "http://")):
        return "url"
    return "email"


def normalise_address(raw: str) -> str:
    """A phone number (it starts with + or 00) in E.164, else an email address; ValueError."""
    text = raw.strip() if isinstance(raw, str) else ""
    if "@" in text:
        return normalise_email(text)
    return normalise_phone(text)


def mask(address: str) -> str:
    """What answers show of an address: enough to tell two apart, not enough to call anyone.
    +27821234512 -> +2782*****12 (at least three digits hidden); ann@example.org -> a***@example.org;
    a webhook -> its scheme and host."""
    match address_kind(address):
        case "phone":
            return mask_phone(address)
        case "url":
            parts = urlsplit(address)
            return f"{parts.scheme}://{parts.hostname or ''}/***"
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def mask_phone(phone: str) -> str:
    digits = len(phone) - 1
    shown_first = max(min(4, digits - 5), 0)
    hidden = max(digits - shown_first - 2, 0)
    return phone[: 1 + shown_first] + "*" * hidden + phone[1 + shown_first + hidden :]
