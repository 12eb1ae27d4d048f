"""The AsyncAPI document says what the relay really publishes, and is the one in docs/."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import msgspec

from commands.app import TICKET_EVENTS
from domain.routing import Offer
from domain.sla import policy_from_definition
from domain.workflow import HELPDESK
from tests.unit.helpers import actor, new_ticket
from workers.asyncapi import document, event_payload
from workers.messages import payload_for

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_the_committed_document_is_the_generated_one():
    assert json.loads(DOCS.read_text()) == json.loads(msgspec.json.encode(document()))


def test_every_ticket_event_has_a_documented_payload():
    messages = document()["components"]["messages"]
    assert set(TICKET_EVENTS) <= set(messages)


def test_what_the_relay_publishes_decodes_strictly_as_documented():
    ticket = new_ticket(workflow=HELPDESK, tags=["water"], reporter={"name": "Ann", "phone": "+27 21 555 0100"})
    ticket.start_sla(policy_from_definition(0, {"id": "p", "response_hours": 1, "resolution_hours": 8}), 1)
    manager = actor("manager")
    ticket.assign(manager, Offer("team-1", "Water", False, "tech-1", "Tia", "water", "rule 'water' matched"))
    ticket.accept(actor("agent", "tech-1"))
    ticket.change_status(actor("agent", "tech-1"), "on_hold")
    ticket.change_status(actor("agent", "tech-1"), "in_progress")
    ticket.reply(manager, uuid4(), "On it", internal=True)
    ticket.edit(manager, {"priority": "urgent", "tags": ["water", "main"]})
    ticket.attach(manager, uuid4(), sha256="0" * 64, name="photo.jpg", content_type="image/jpeg", size=10)
    ticket.breach_sla("resolution", ticket.sla_deadlines["resolution"] + timedelta(hours=1))
    ticket.transfer(manager, "tech-2", "holiday")
    ticket.reject(actor("agent", "tech-2"), "not my area")
    ticket.assign(manager, Offer("team-1", "Water", False, "tech-3", "Tom", None, "by hand"))
    ticket.unassign(actor("admin"), "off sick")
    ticket.redact(actor("admin"), "reporter_phone", "asked")
    ticket.mark_sensitive(actor("liaison"), "a report of abuse", keeps_team=False, keeps_assignee=False)
    ticket.erase(actor("admin"), "the reporter asked to be forgotten")
    ticket.archive(actor("admin"), "duplicate")
    events = ticket.collect_events()
    seen = set()
    for number, event in enumerate(events, start=1):
        name = type(event).__name__
        decoded = msgspec.json.decode(payload_for(event, number), type=event_payload(name, event.is_sensitive), strict=True)
        assert (decoded.event, decoded.ticket_id, decoded.notification_id) == (name, ticket.id, number)
        seen.add(name)
    assert seen == set(TICKET_EVENTS)
