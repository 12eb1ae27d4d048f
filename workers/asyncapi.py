"""The AsyncAPI document of what Docket publishes on NATS, built from the event classes themselves
so that it cannot drift from them. `docket asyncapi > docs/asyncapi.json` writes it."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from commands.app import TICKET_EVENTS
from domain.notification_rules import CHANNELS
from domain.ticket import Ticket
from projections.audit_checkpoints import Checkpoint
from projections.dashboard_queries import CategoryVolume, Metrics, SLAFigures, TeamWorkload
from workers.audit_checkpoints import BUCKET as AUDIT_BUCKET
from workers.audit_checkpoints import HISTORY as AUDIT_HISTORY
from workers.messages import ENVELOPE, PERSONAL, SENSITIVE_KEPT, WITHDRAWN
from workers.notifier.dead_letters import STREAM as DEAD_LETTERS
from workers.notifier.dead_letters import DeadDelivery
from workers.publisher import BUCKET, VIEWS
from workers.relay import STREAM

SKIPPED = {*ENVELOPE, "originator_id_type"}
VIEW_PAYLOADS: dict[str, Any] = {"metrics": Metrics, "volume": list[CategoryVolume], "sla": SLAFigures, "workload": list[TeamWorkload]}


ENVELOPE_FIELDS = [("event", str), ("ticket_id", UUID), ("notification_id", int), ("version", int), ("at", datetime)]


def event_payload(name: str, sensitive: bool = False) -> type:
    """The JSON the relay publishes for one event: the envelope, then the event's own fields that
    its subject's readers may hold (workers/messages.py)."""
    hints = typing.get_type_hints(getattr(Ticket, name))
    kept = (lambda field: field in SENSITIVE_KEPT) if sensitive else (lambda field: field not in PERSONAL)
    own = [(field, kind) for field, kind in hints.items() if field not in SKIPPED and kept(field)]
    return msgspec.defstruct(f"Sensitive{name}" if sensitive else name, ENVELOPE_FIELDS + own)


def withdrawn_payload() -> type:
    return msgspec.defstruct(WITHDRAWN, [*ENVELOPE_FIELDS, ("tenant", str)])


def document() -> dict[str, Any]:
    assert set(VIEW_PAYLOADS) == set(VIEWS)
    sensitive = [event_payload(name, sensitive=True) for name in TICKET_EVENTS] + [withdrawn_payload()]
    kinds = [event_payload(name) for name in TICKET_EVENTS] + list(VIEW_PAYLOADS.values()) + [DeadDelivery]
    schemas, components = msgspec.json.schema_components(kinds, ref_template="#/components/schemas/{name}")
    (*sensitive_schemas, withdrawn_schema), sensitive_components = msgspec.json.schema_components(
        sensitive, ref_template="#/components/schemas/{name}"
    )
    messages = {name: {"name": name, "payload": schema} for name, schema in zip(TICKET_EVENTS, schemas)}
    messages |= {f"Sensitive{name}": {"name": name, "payload": schema} for name, schema in zip(TICKET_EVENTS, sensitive_schemas)}
    messages[WITHDRAWN] = {"name": WITHDRAWN, "payload": withdrawn_schema}
    messages["DeadDelivery"] = {"name": "DeadDelivery", "payload": schemas[-1]}
    view_schemas = schemas[len(TICKET_EVENTS) : -1]
    views = {f"dashboard_{view}": {"name": f"dashboard.{view}", "payload": schema} for view, schema in zip(VIEW_PAYLOADS, view_schemas)}
    event_refs = [{"$ref": f"#/components/messages/{name}"} for name in TICKET_EVENTS]
    sensitive_refs = [{"$ref": f"#/components/messages/Sensitive{name}"} for name in TICKET_EVENTS]
    (checkpoint_schema,), checkpoint_components = msgspec.json.schema_components([Checkpoint], ref_template="#/components/schemas/{name}")
    messages["AuditCheckpoint"] = {"name": "AuditCheckpoint", "payload": checkpoint_schema}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Docket events and dashboard figures",
            "version": "1",
            "description": (
                f"Every domain event of a ticket, on JetStream stream {STREAM}, with the event's global notification id as "
                "`Nats-Msg-Id` (so a consumer can deduplicate). Sensitive tickets' events only on `sensitive` subjects, "
                "staff-only internal notes only on `internal` subjects. Dashboard figures per tenant in key-value bucket "
                f"{BUCKET}, one key per view, updated at most once a second per tenant; sensitive tickets and restricted "
                "teams never count in them. Deliveries the notifier gave up on, on JetStream stream "
                f"{DEAD_LETTERS}, with the delivery's id and attempts as `Nats-Msg-Id`. Signed checkpoints of each tenant's "
                f"audit chain in key-value bucket {AUDIT_BUCKET}, with history."
            ),
        },
        "servers": {"nats": {"host": "localhost:4222", "protocol": "nats", "description": "DOCKET_NATS_URL"}},
        "channels": {
            "ticketEvents": _channel(
                "docket.{tenant}.tickets.{event}",
                "A ticket's events, but for sensitive tickets' and internal notes; no reporter contact details, address or "
                "exact location. Withdrawn: the ticket became sensitive, drop what you hold about it.",
                [*event_refs, {"$ref": f"#/components/messages/{WITHDRAWN}"}],
            ),
            "internalNotes": _channel(
                "docket.{tenant}.internal.{event}",
                "Internal notes (ReplyAdded with internal true): staff only.",
                [{"$ref": "#/components/messages/ReplyAdded"}],
            ),
            "sensitiveEvents": _channel(
                "docket.{tenant}.sensitive.{event}",
                "Every event of a sensitive ticket, as identifiers, event names, statuses and times only: liaison officers "
                "and administrators only.",
                sensitive_refs,
            ),
            **{
                f"dashboard{view.title()}": _channel(
                    f"$KV.{BUCKET}.{{tenant}}.dashboard.{view}",
                    f"The tenant's dashboard {view}, as GET /api/v1/dashboard/{view} answers it without filters. Watch the key `{{tenant}}.dashboard.{view}` of bucket {BUCKET}.",
                    [{"$ref": f"#/components/messages/dashboard_{view}"}],
                    event=False,
                )
                for view in VIEW_PAYLOADS
            },
            "deadDeliveries": dead_deliveries_channel(),
            "auditCheckpoints": audit_checkpoints_channel(),
        },
        "operations": {
            f"receive{name[0].upper()}{name[1:]}": {"action": "receive", "channel": {"$ref": f"#/channels/{name}"}}
            for name in (
                "ticketEvents",
                "internalNotes",
                "sensitiveEvents",
                *(f"dashboard{v.title()}" for v in VIEW_PAYLOADS),
                "deadDeliveries",
                "auditCheckpoints",
            )
        },
        "components": {"messages": {**messages, **views}, "schemas": {**components, **sensitive_components, **checkpoint_components}},
    }


def dead_deliveries_channel() -> dict[str, Any]:
    return {
        "address": "docket.{tenant}.notify.{kind}.{channel}",
        "description": (
            f"A delivery that died (a permanent failure, or its attempts ran out), on JetStream stream {DEAD_LETTERS}: "
            "`docket notifications retry` sends it again. `dead_sensitive` for a sensitive ticket's (the sensitive "
            "notifier's), `dead` for the others. The recipient is masked; no message text travels."
        ),
        "parameters": {
            "tenant": {"description": "The tenant, as in the tokens' tenant claim"},
            "kind": {"enum": ["dead", "dead_sensitive"]},
            "channel": {"enum": list(CHANNELS)},
        },
        "messages": {"DeadDelivery": {"$ref": "#/components/messages/DeadDelivery"}},
    }


def audit_checkpoints_channel() -> dict[str, Any]:
    return {
        "address": f"$KV.{AUDIT_BUCKET}.{{tenant}}.head",
        "description": (
            f"The head of the tenant's audit chain, signed with the audit key (Ed25519; GET /api/v1/audit/public-key), "
            f"every minute with new events and on `docket audit checkpoint`. The key `{{tenant}}.head` of bucket {AUDIT_BUCKET} "
            f"keeps the last {AUDIT_HISTORY}; `docket audit verify` checks the chain against each. The signature is over "
            "`docket-audit-checkpoint/1\\n` + tenant, notification_id, hash and at, joined by newlines."
        ),
        "parameters": {"tenant": {"description": "The tenant, as in the tokens' tenant claim"}},
        "messages": {"AuditCheckpoint": {"$ref": "#/components/messages/AuditCheckpoint"}},
    }


def _channel(address: str, description: str, messages: list[dict[str, str]], event: bool = True) -> dict[str, Any]:
    parameters = {"tenant": {"description": "The tenant, as in the tokens' tenant claim"}}
    if event:
        parameters["event"] = {"enum": list(TICKET_EVENTS)}
    return {
        "address": address,
        "description": description,
        "parameters": parameters,
        "messages": {m["$ref"].rsplit("/", 1)[1]: m for m in messages},
    }


def print_document() -> None:
    print(msgspec.json.format(msgspec.json.encode(document()), indent=2).decode())
