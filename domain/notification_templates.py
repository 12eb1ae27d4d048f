"""Message templates: text with {placeholders} of a fixed set of names, and nothing else.

A tenant's administrator writes templates, and what fills them comes from tickets that citizens
write. So a template is not a format string (no attribute access, no indexing, no formatting
codes): each {name} must be one of PLACEHOLDERS, checked when the rules are saved, and filling
it in is one pass that never reads a value as a template. `{{` and `}}` stand for braces.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

from domain.errors import Invalid

# What a template may say, and never the reporter's own contact details.
PLACEHOLDERS = {
    "tracking_number": "the ticket's tracking number, e.g. TKT-000123",
    "title": "the ticket's title",
    "status": "the status the ticket is in now (after a status change, the new one)",
    "previous_status": "the status before a status change",
    "category": "the ticket's category",
    "priority": "the ticket's priority",
    "link": "where the ticket can be seen (DOCKET_NOTIFY_LINK)",
    "reply": "a public reply's text",
    "note": "a status change's note, when staff made it public",
    "team": "the team that holds the ticket",
    "assignee": "the name of the person the ticket is assigned to",
    "escalation_level": "the escalation level after an escalation",
    "deadline": "which SLA deadline passed (response or resolution)",
    "event": "the event's name",
}
TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z0-9_]*)\}|[{}]")
MAX_VALUE = 1_000  # characters of one filled-in value: a long reply is cut, not sent whole by SMS
LIMITS = {"sms": 1_600, "subject": 200, "text": 10_000, "html": 20_000}
WHATSAPP_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2})?$")
MAX_PARAMETERS = 10
WHATSAPP_PARAMETER = 1_024
NEUTRAL_TEXT = "There is an update on your report {tracking_number}."
NEUTRAL_SUBJECT = "An update on your report"


def check_text(field: str, text: Any, limit: int) -> str:
    """The template as given, if every placeholder is known and every lone brace doubled."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid(f"{field} must be non-empty text.", code="invalid_template", field=field)
    if len(text) > limit:
        raise Invalid(f"{field} must be at most {limit} characters.", code="invalid_template", field=field)
    for token in TOKEN.finditer(text):
        if token.group(0) in ("{{", "}}"):
            continue
        name = token.group(1)
        if name is None:
            raise Invalid(
                f"{field} has a lone '{token.group(0)}' at {token.start()}: write {{{{ or }}}} for a brace.",
                code="invalid_template",
                field=field,
            )
        if name not in PLACEHOLDERS:
            raise Invalid(
                f"{field} names {{{name}}}, which is not a placeholder; known: {', '.join(sorted(PLACEHOLDERS))}.",
                code="unknown_placeholder",
                field=field,
            )
    return text


def render(template: str, values: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
    """The template with each {name} replaced by its value (escaped), in one pass: a value that
    looks like a placeholder stays as it is. An unknown name (only in a template that was never
    checked) is left out rather than guessed at."""

    def fill(token: re.Match[str]) -> str:
        whole = token.group(0)
        if whole in ("{{", "}}"):
            return whole[0]
        name = token.group(1)
        if name is None:
            return whole
        return escape(values.get(name, "")[:MAX_VALUE])

    return TOKEN.sub(fill, template)


def render_html(template: str, values: Mapping[str, str]) -> str:
    return render(template, values, lambda value: html.escape(value, quote=True))


def header_safe(text: str) -> str:
    """A subject line: no line breaks, which would start a header of the sender's choosing."""
    return " ".join(text.split())[: LIMITS["subject"]]


def whatsapp_parameter(text: str) -> str:
    """WhatsApp refuses template parameters with new lines, tabs or more than four spaces in a
    row: the value as one line, at most its length limit."""
    return " ".join(text.split())[:WHATSAPP_PARAMETER] or "-"


def check_whatsapp(field: str, template: Mapping[str, Any]) -> dict[str, Any]:
    name = template.get("name")
    if not isinstance(name, str) or not WHATSAPP_NAME.match(name):
        raise Invalid(
            f"{field}.name is the approved template's name: lower-case letters, digits and _.",
            code="invalid_template",
            field=f"{field}.name",
        )
    language = template.get("language", "en")
    if not isinstance(language, str) or not LANGUAGE.match(language):
        raise Invalid(f"{field}.language is a language code such as en or pt_BR.", code="invalid_template", field=f"{field}.language")
    parameters = template.get("parameters", [])
    if not isinstance(parameters, list) or len(parameters) > MAX_PARAMETERS:
        raise Invalid(
            f"{field}.parameters lists at most {MAX_PARAMETERS} placeholders.", code="invalid_template", field=f"{field}.parameters"
        )
    for index, parameter in enumerate(parameters):
        if parameter not in PLACEHOLDERS:
            raise Invalid(
                f"{field}.parameters[{index}] must be a placeholder's name; known: {', '.join(sorted(PLACEHOLDERS))}.",
                code="unknown_placeholder",
                field=f"{field}.parameters[{index}]",
            )
    return {"name": name, "language": language, "parameters": list(parameters)}


def check_email(field: str, template: Mapping[str, Any]) -> dict[str, Any]:
    checked = {
        "subject": check_text(f"{field}.subject", template.get("subject"), LIMITS["subject"]),
        "text": check_text(f"{field}.text", template.get("text"), LIMITS["text"]),
    }
    if template.get("html") is not None:
        checked["html"] = check_text(f"{field}.html", template.get("html"), LIMITS["html"])
    return checked


def check_sms(field: str, template: Mapping[str, Any]) -> dict[str, Any]:
    return {"body": check_text(f"{field}.body", template.get("body"), LIMITS["sms"])}


CHECKS = {"whatsapp": check_whatsapp, "sms": check_sms, "email": check_email}


def check_templates(field: str, templates: Any, channels: tuple[str, ...], defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each channel's template, the default where the rule gives none; a template for a channel
    the rule does not use is a mistake worth saying."""
    if templates is None:
        templates = {}
    if not isinstance(templates, Mapping):
        raise Invalid(f"{field} maps channels to templates.", code="invalid_template", field=field)
    unused = sorted(set(templates) - set(channels))
    if unused:
        raise Invalid(
            f"{field} has a template for {unused[0]}, which the rule does not send on; its channels: {', '.join(channels)}.",
            code="invalid_template",
            field=f"{field}.{unused[0]}",
        )
    checked = {}
    for channel in channels:
        given = templates.get(channel)
        if given is not None and not isinstance(given, Mapping):
            raise Invalid(f"{field}.{channel} is an object.", code="invalid_template", field=f"{field}.{channel}")
        checked[channel] = CHECKS[channel](f"{field}.{channel}", given if given is not None else defaults[channel])
    return checked


def _email(subject: str, text: str) -> dict[str, str]:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
    return {"subject": subject, "text": text, "html": f"<html><body>{paragraphs}</body></html>"}


def _whatsapp(name: str, *parameters: str) -> dict[str, Any]:
    return {"name": name, "language": "en", "parameters": list(parameters)}


# English defaults, one set per kind of message the seeds name. A WhatsApp template must be
# approved by Meta under its name before it can be sent: these names are the ones to register.
DEFAULT_TEMPLATES: dict[str, dict[str, dict[str, Any]]] = {
    "status_update": {
        "whatsapp": _whatsapp("docket_status_update", "tracking_number", "status"),
        "sms": {"body": "Your report {tracking_number} ({title}) is now {status}. {link}"},
        "email": _email(
            "Your report {tracking_number} is now {status}", "Your report {tracking_number} ({title}) is now {status}.\n{note}\n{link}"
        ),
    },
    "ticket_created": {
        "whatsapp": _whatsapp("docket_ticket_created", "tracking_number"),
        "sms": {"body": "We received your request {tracking_number} ({title}). {link}"},
        "email": _email("We received your request {tracking_number}", "We received your request {tracking_number}: {title}.\n{link}"),
    },
    "job_assigned": {
        "whatsapp": _whatsapp("docket_job_assigned", "tracking_number", "title"),
        "sms": {"body": "Job {tracking_number} ({title}) is assigned to you. {link}"},
        "email": _email("Job {tracking_number} is assigned to you", "Job {tracking_number} ({title}) is assigned to you.\n{link}"),
    },
    "job_completed": {
        "whatsapp": _whatsapp("docket_job_completed", "tracking_number"),
        "sms": {"body": "Your job {tracking_number} ({title}) is completed. {link}"},
        "email": _email("Your job {tracking_number} is completed", "Your job {tracking_number} ({title}) is completed.\n{link}"),
    },
    "sla_breach": {
        "whatsapp": _whatsapp("docket_sla_breach", "tracking_number", "deadline"),
        "sms": {"body": "SLA breached: the {deadline} deadline of {tracking_number} ({title}) passed. {link}"},
        "email": _email("SLA breached on {tracking_number}", "The {deadline} deadline of {tracking_number} ({title}) passed.\n{link}"),
    },
    "escalated": {
        "whatsapp": _whatsapp("docket_escalated", "tracking_number", "escalation_level"),
        "sms": {"body": "{tracking_number} ({title}) escalated to level {escalation_level}. {link}"},
        "email": _email(
            "{tracking_number} escalated to level {escalation_level}",
            "{tracking_number} ({title}) escalated to level {escalation_level}.\n{link}",
        ),
    },
    "reply": {
        "whatsapp": _whatsapp("docket_reply", "tracking_number", "reply"),
        "sms": {"body": "New reply on {tracking_number}: {reply} {link}"},
        "email": _email("New reply on {tracking_number}: {title}", "{reply}\n\n{link}"),
    },
}
