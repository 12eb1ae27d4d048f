"""The relay to JetStream: every event once, in order, with its notification id as message id."""

from __future__ import annotations

import asyncio

import nats

from commands.app import TICKET_TOPICS
from commands.sensitivity import mark_sensitive
from commands.structs import AddReply, ChangeStatus, EditTicket, Location, MarkSensitive, OpenTicket, Reporter
from commands.tickets import add_reply, change_status, edit_ticket, open_ticket
from projections.operations import events_after
from tests.nats_helpers import read_subject
from workers.relay import Relay, ensure_stream


def open_and_change(app, actor, n=1):
    ids = []
    for i in range(n):
        opened = open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title=f"Leak {i}", description="d", category="water"))
        change_status(app, ChangeStatus(actor=actor(), ticket_id=opened.id, status="in_progress"))
        ids.append(opened.id)
    return ids


async def run_relay_until_published(app, database_url, nats_server, subject, expected):
    """Runs the relay as its own NATS user until `expected` messages are on `subject`."""
    client = await nats.connect(nats_server.url_for("relay"))
    stop = asyncio.Event()
    task = asyncio.create_task(Relay(app, database_url, client.jetstream()).run(stop))
    try:
        return await read_subject(nats_server.admin_url, subject, expected)
    finally:
        stop.set()
        await task
        await client.close()


def test_both_events_of_a_ticket_reach_the_stream_with_their_notification_ids(app, actor, tenant, database_url, nats_server):
    [ticket_id] = open_and_change(app, actor)
    subject = f"docket.{tenant}.tickets.>"
    messages = asyncio.run(run_relay_until_published(app, database_url, nats_server, subject, 2))
    assert [m[0] for m in messages] == [f"docket.{tenant}.tickets.Opened", f"docket.{tenant}.tickets.StatusChanged"]
    opened, changed = (m[2] for m in messages)
    assert opened["ticket_id"] == changed["ticket_id"] == str(ticket_id)
    assert (opened["event"], opened["title"], opened["actor_role"]) == ("Opened", "Leak 0", "reporter")
    assert (changed["from_status"], changed["to_status"], changed["actor_id"]) == ("open", "in_progress", "manager-1")
    assert [int(m[1]["Nats-Msg-Id"]) for m in messages] == [opened["notification_id"], changed["notification_id"]]


def test_a_relay_that_died_between_publishing_and_tracking_repeats_nothing(app, actor, tenant, database_url, nats_server):
    open_and_change(app, actor, n=5)
    subject = f"docket.{tenant}.tickets.>"

    async def publish_without_tracking():
        # What a relay killed mid-batch leaves: part of a batch published, its position not recorded.
        client = await nats.connect(nats_server.url_for("relay"))
        js = client.jetstream()
        await ensure_stream(js)
        relay = Relay(app, database_url, js)
        position = await relay.start_position()
        batch = [item for item in events_after(app, position, TICKET_TOPICS) if item[0].tenant == tenant]
        await relay.publish(batch[:7])
        await client.close()

    asyncio.run(publish_without_tracking())
    messages = asyncio.run(run_relay_until_published(app, database_url, nats_server, subject, 10))
    ids = [int(m[1]["Nats-Msg-Id"]) for m in messages]
    assert len(ids) == 10 == len(set(ids))
    assert ids == sorted(ids)
    stored = [t.notification_id for e, t in events_after(app, 0, TICKET_TOPICS, limit=100_000) if e.tenant == tenant]
    assert ids == stored


def test_a_sensitive_tickets_events_go_only_to_its_sensitive_subjects(app, actor, tenant, database_url, nats_server, nats_url):
    opened = open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title="GBV", description="x", category="gbv", is_sensitive=True))
    change_status(app, ChangeStatus(actor=actor("liaison"), ticket_id=opened.id, status="in_progress"))
    open_and_change(app, actor)
    sensitive = asyncio.run(run_relay_until_published(app, database_url, nats_server, f"docket.{tenant}.sensitive.>", 2))
    ordinary = asyncio.run(read_subject(nats_url, f"docket.{tenant}.tickets.>", 2))
    assert [m[0] for m in sensitive] == [f"docket.{tenant}.sensitive.Opened", f"docket.{tenant}.sensitive.StatusChanged"]
    assert {m[2]["ticket_id"] for m in sensitive} == {str(opened.id)}
    assert str(opened.id) not in {m[2]["ticket_id"] for m in ordinary}
    assert len(ordinary) == 2


def test_an_internal_note_goes_only_to_the_internal_subjects_and_a_public_reply_to_tickets(
    app, actor, tenant, database_url, nats_server, nats_url
):
    [ticket_id] = open_and_change(app, actor)
    add_reply(app, AddReply(actor=actor("agent"), ticket_id=ticket_id, body="Neighbour is the culprit", internal=True))
    add_reply(app, AddReply(actor=actor("agent"), ticket_id=ticket_id, body="A crew comes on Tuesday"))
    internal = asyncio.run(run_relay_until_published(app, database_url, nats_server, f"docket.{tenant}.internal.>", 1))
    public = asyncio.run(read_subject(nats_url, f"docket.{tenant}.tickets.>", 3))
    assert [(m[0], m[2]["body"]) for m in internal] == [(f"docket.{tenant}.internal.ReplyAdded", "Neighbour is the culprit")]
    assert [m[0].rsplit(".", 1)[1] for m in public] == ["Opened", "StatusChanged", "ReplyAdded"]
    assert public[-1][2]["body"] == "A crew comes on Tuesday" and public[-1][2]["internal"] is False


def test_a_message_id_published_ahead_of_the_event_store_neither_hides_nor_drops_the_real_events(
    app, actor, tenant, database_url, nats_server, caplog
):
    """Someone with publish rights (only admin, now) sends a message under a notification id the
    event store has not reached: the relay neither starts after it nor loses the real event that
    later gets that id to JetStream's duplicate check."""
    head = app.recorder.max_notification_id() or 0
    forged_ids = range(head + 1, head + 9)  # the next few ids (other events may take some)

    async def forge():
        client = await nats.connect(nats_server.admin_url)
        js = client.jetstream()
        await ensure_stream(js)
        for forged_id in forged_ids:
            await js.publish(f"docket.{tenant}.tickets.Opened", b'{"event": "Forged"}', headers={"Nats-Msg-Id": str(forged_id)})
        await client.close()

    asyncio.run(forge())
    open_and_change(app, actor, n=2)
    stored = [t.notification_id for e, t in events_after(app, head, TICKET_TOPICS, limit=100_000) if e.tenant == tenant]
    assert set(stored) & set(forged_ids)
    messages = asyncio.run(run_relay_until_published(app, database_url, nats_server, f"docket.{tenant}.tickets.>", len(forged_ids) + 4))
    relayed = [m[2]["notification_id"] for m in messages if m[2]["event"] != "Forged"]
    assert relayed == stored
    assert any("anomaly" in r.getMessage() and str(forged_ids[-1]) in r.getMessage() for r in caplog.records)


REPORTER = {"id": "c9", "name": "Ada", "phone": "+27215550100", "email": "ada@example.org"}
PLACE = {"address": "12 Long St", "location": {"lat": -33.9249, "lon": 18.4241}}


def test_ordinary_messages_carry_no_contact_details_address_or_location(app, actor, tenant, database_url, nats_server):
    opened = open_ticket(
        app,
        OpenTicket(
            actor=actor("reporter", "c9"),
            title="Leak",
            description="Water",
            category="water",
            reporter=Reporter(**REPORTER),
            location=Location(**PLACE["location"]),
            address=PLACE["address"],
        ),
    )
    edit_ticket(app, EditTicket(actor=actor(), ticket_id=opened.id, changes={"address": "14 Long St", "priority": "high"}))
    messages = asyncio.run(run_relay_until_published(app, database_url, nats_server, f"docket.{tenant}.tickets.>", 2))
    text = " ".join(m[2].__repr__() for m in messages)
    for secret in (REPORTER["phone"], REPORTER["email"], "12 Long St", "14 Long St", "-33.9249"):
        assert secret not in text, secret
    opened_message, edited = (m[2] for m in messages)
    assert (opened_message["title"], opened_message["reporter_name"]) == ("Leak", "Ada")  # what consumers work with stays
    assert edited["changes"] == {"priority": {"old": "medium", "new": "high"}}


def test_a_sensitive_tickets_messages_hold_identifiers_statuses_and_times_only(app, actor, tenant, database_url, nats_server):
    opened = open_ticket(
        app,
        OpenTicket(actor=actor("reporter", "c9"), title="Help me", description="He hits me", category="gbv", reporter=Reporter(**REPORTER)),
    )
    change_status(app, ChangeStatus(actor=actor("liaison"), ticket_id=opened.id, status="in_progress", note="Called her back"))
    messages = asyncio.run(run_relay_until_published(app, database_url, nats_server, f"docket.{tenant}.sensitive.>", 2))
    text = " ".join(repr(m[2]) for m in messages)
    for secret in ("Help me", "He hits me", "Ada", REPORTER["phone"], REPORTER["email"], "Called her back", "gbv"):
        assert secret not in text, secret
    first, moved = (m[2] for m in messages)
    assert (first["event"], first["ticket_id"], first["status"], first["tracking_number"]) == (
        "Opened",
        str(opened.id),
        "open",
        opened.tracking_number,
    )
    assert (moved["from_status"], moved["to_status"]) == ("open", "in_progress")


def test_a_ticket_made_sensitive_is_withdrawn_from_the_ordinary_subjects_and_goes_on_on_the_sensitive_ones(
    app, actor, tenant, database_url, nats_server, nats_url
):
    [ticket_id] = open_and_change(app, actor)
    mark_sensitive(app, lambda tenant, users: {}, MarkSensitive(actor=actor("liaison"), ticket_id=ticket_id, reason="abuse"))
    change_status(app, ChangeStatus(actor=actor("liaison"), ticket_id=ticket_id, status="resolved"))
    sensitive = asyncio.run(run_relay_until_published(app, database_url, nats_server, f"docket.{tenant}.sensitive.>", 2))
    ordinary = asyncio.run(read_subject(nats_url, f"docket.{tenant}.tickets.>", 3))
    assert [m[0].rsplit(".", 1)[1] for m in ordinary] == ["Opened", "StatusChanged", "Withdrawn"]
    withdrawn = ordinary[-1]
    assert (withdrawn[2]["ticket_id"], withdrawn[1]["Nats-Msg-Id"]) == (str(ticket_id), f"{withdrawn[2]['notification_id']}-withdrawn")
    assert "abuse" not in repr(withdrawn[2])
    assert [m[0].rsplit(".", 1)[1] for m in sensitive] == ["MarkedSensitive", "StatusChanged"]
    assert sensitive[0][2]["notification_id"] == withdrawn[2]["notification_id"]
