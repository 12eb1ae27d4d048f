"""A sensitive ticket's words and its reporter's details rest sealed: in the read models' rows (and
so in the database files and WAL), and out of the NATS messages JetStream keeps on disk. Cleared
callers read them as they were written."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import nats
from sqlalchemy import text

from commands.app import Docket, eventsourcing_env
from commands.sensitivity import mark_sensitive
from commands.structs import AddReply, ChangeStatus, Location, MarkSensitive, OpenTicket, RedactField, Reporter
from commands.tickets import add_reply, change_status, open_ticket, redact_field
from projections.operations import PROJECTIONS, RELAY, ensure_tables, head_of, tracking_recorder
from projections.runner import ProjectionLoop
from tests.conftest import CIPHER_KEY
from tests.integration.http_helpers import TICKETS, detail, history
from workers.embedded import embedded_nats, embedded_postgres
from workers.relay import Relay

SECRETS = {
    "description": "He locks me in the flat at night",
    "phone": "+27215550199",
    "email": "thandi@example.org",
    "address": "7 Hidden Lane",
    "reply": "We will call you at noon",
    "note": "Spoke to her sister",
}
TABLES = ("tickets", "ticket_history", "ticket_replies", "ticket_attachments", "ticket_assignments")


def report(actor, sensitive: bool = True) -> OpenTicket:
    return OpenTicket(
        actor=actor("reporter", "cit-7"),
        title="Help",
        description=SECRETS["description"],
        category="safety",
        is_sensitive=sensitive,
        reporter=Reporter(name="Thandi", phone=SECRETS["phone"], email=SECRETS["email"]),
        address=SECRETS["address"],
        location=Location(lat=-26.2041, lon=28.0473),
    )


def work_on(app, actor, ticket_id) -> None:
    add_reply(app, AddReply(actor=actor("liaison"), ticket_id=ticket_id, body=SECRETS["reply"]))
    change_status(app, ChangeStatus(actor=actor("liaison"), ticket_id=ticket_id, status="in_progress", note=SECRETS["note"]))


def rows_text(engine, ticket_id) -> str:
    """Every read-model row of the ticket, as PostgreSQL would write it down."""
    with engine.connect() as conn:
        return " ".join(
            " ".join(conn.execute(text(f"SELECT t::text FROM {table} t WHERE {key} = :id"), {"id": ticket_id}).scalars())
            for table, key in zip(TABLES, ("id", "ticket_id", "ticket_id", "ticket_id", "ticket_id"), strict=True)
        )


def assert_read_back_by_the_cleared(client, auth, ticket_id) -> None:
    liaison = auth("liaison")
    record = detail(client, liaison, ticket_id)
    assert (record["description"], record["address"]) == (SECRETS["description"], SECRETS["address"])
    assert (record["reporter"]["phone"], record["location"]) == (SECRETS["phone"], {"lat": -26.2041, "lon": 28.0473})
    replies = client.get(f"{TICKETS}/{ticket_id}/replies", headers=liaison).json()["items"]
    assert [r["body"] for r in replies] == [SECRETS["reply"]]
    notes = [e["note"] for e in history(client, liaison, ticket_id)]
    assert SECRETS["note"] in notes
    opened = history(client, liaison, ticket_id)[0]
    assert opened["changes"]["description"]["new"] == SECRETS["description"]


def test_a_sensitive_tickets_rows_hold_none_of_its_words_and_the_cleared_read_them(app, actor, engine, client, auth, projected):
    ticket_id = open_ticket(app, report(actor)).id
    work_on(app, actor, ticket_id)
    projected()
    stored = rows_text(engine, ticket_id)
    for name, secret in SECRETS.items():
        assert secret not in stored, name
    assert "-26.2041" not in stored
    assert_read_back_by_the_cleared(client, auth, ticket_id)
    # Its words are out of the full-text index; its tracking number finds it.
    number = detail(client, auth("liaison"), ticket_id)["tracking_number"]
    for q, found in ((number, [str(ticket_id)]), ("flat", [])):
        items = client.get(TICKETS, params={"q": q}, headers=auth("liaison")).json()["items"]
        assert [item["id"] for item in items] == found, q


def test_a_ticket_made_sensitive_later_has_its_rows_sealed_then(app, actor, engine, client, auth, projected):
    ticket_id = open_ticket(app, report(actor, sensitive=False)).id
    add_reply(app, AddReply(actor=actor("manager"), ticket_id=ticket_id, body=SECRETS["reply"]))
    projected()
    assert SECRETS["description"] in rows_text(engine, ticket_id)
    mark_sensitive(app, lambda tenant, users: {}, MarkSensitive(actor=actor("manager"), ticket_id=ticket_id, reason="abuse"))
    change_status(app, ChangeStatus(actor=actor("liaison"), ticket_id=ticket_id, status="in_progress", note=SECRETS["note"]))
    projected()
    stored = rows_text(engine, ticket_id)
    for name, secret in SECRETS.items():
        assert secret not in stored, name
    assert_read_back_by_the_cleared(client, auth, ticket_id)


def test_redacting_a_sensitive_tickets_phone_clears_it_from_its_sealed_history(app, actor, client, auth, projected):
    ticket_id = open_ticket(app, report(actor)).id
    redact_field(app, RedactField(actor=actor("admin"), ticket_id=ticket_id, field="reporter_phone", reason="asked"))
    projected()
    entries = history(client, auth("admin"), ticket_id)
    assert SECRETS["phone"] not in repr(entries)
    assert entries[0]["changes"]["reporter_phone"] == {"old": "[redacted]", "new": "[redacted]"}
    assert detail(client, auth("admin"), ticket_id)["reporter"]["phone"] is None


def test_no_file_of_the_database_or_the_nats_store_holds_a_sensitive_tickets_words(tmp_path, actor):
    """On servers of its own: after the ticket is worked, projected, relayed and PostgreSQL has
    checkpointed, no file under either data directory contains its description or the phone."""
    with embedded_postgres(tmp_path / "pg") as database_url, embedded_nats(tmp_path / "nats") as nats_server:
        app = Docket(env=eventsourcing_env(database_url, CIPHER_KEY))
        try:
            ensure_tables(app.recorder.datastore)
            ticket_id = open_ticket(app, report(actor)).id
            work_on(app, actor, ticket_id)
            for projection in PROJECTIONS.values():
                _catch_up(app, ProjectionLoop(app, projection))
            asyncio.run(_relay_everything(app, database_url, nats_server.url_for("relay")))
            with app.recorder.datastore.transaction(commit=True) as curs:
                curs.execute("CHECKPOINT")
        finally:
            app.close()
        for secret in (SECRETS["description"], SECRETS["phone"]):
            found = [path for path in _files(tmp_path) if secret.encode() in path.read_bytes()]
            assert found == [], (secret, found)


def _catch_up(app, loop: ProjectionLoop) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    try:
        loop.wait(head_of(app, PROJECTIONS[loop.name].topics), timeout=20)
    finally:
        stop.set()
        thread.join()


async def _relay_everything(app, database_url: str, url: str) -> None:
    client = await nats.connect(url)
    stop = asyncio.Event()
    task = asyncio.create_task(Relay(app, database_url, client.jetstream()).run(stop))
    relayed = tracking_recorder(app.recorder.datastore, RELAY)
    head = app.recorder.max_notification_id()
    for _ in range(300):
        if (relayed.max_tracking_id(app.name) or 0) >= head:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await task
    await client.drain()
    assert (relayed.max_tracking_id(app.name) or 0) >= head, "the relay did not publish every event"


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]
