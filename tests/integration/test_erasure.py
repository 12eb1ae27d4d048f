"""Erasure by key deletion: the reporter's name, phone, email, the address and the location are
stored under the ticket's own key; erasing deletes it. From then on the event store, the read
models, a rebuild and the history read "[erased]", while the events and their stored bytes stay."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from commands.app import TICKET_TOPICS, Docket
from commands.config_cache import conninfo
from commands.personal_data import TicketKeys
from commands.structs import EditTicket, EraseReporter, Location, OpenTicket, Reporter
from commands.tickets import edit_ticket, erase_reporter, open_ticket
from domain.audit_keys import new_signing_key_text, signing_key_from_text
from domain.errors import Refused
from domain.ticket import ERASED, Ticket
from projections.audit_checkpoints import recorded_checkpoints, sign_heads
from projections.operations import events_after, rebuild
from tests.integration.audit_helpers import chained
from tests.integration.http_helpers import TICKETS, detail, history, refused
from workers.audit_verify import Report, trusted_checkpoints, verify_store

PHONE, EMAIL, ADDRESS = "+27215550123", "lindiwe@example.org", "3 Quiet Road"
KEY = signing_key_from_text(new_signing_key_text())


def opened(app, actor, sensitive: bool = False) -> str:
    command = OpenTicket(
        actor=actor("reporter", "cit-8"),
        title="Broken pipe",
        description="Water everywhere",
        category="water",
        reporter=Reporter(name="Lindiwe", phone=PHONE, email=EMAIL),
        address=ADDRESS,
        location=Location(lat=-29.85, lon=31.02),
        is_sensitive=sensitive,
    )
    ticket_id = open_ticket(app, command).id
    editor = actor("admin") if sensitive else actor()
    edit_ticket(app, EditTicket(actor=editor, ticket_id=ticket_id, changes={"address": "5 Quiet Road"}))
    return ticket_id


def stored_states(app, ticket_id) -> list[bytes]:
    return [bytes(e.state) for e in app.recorder.select_events(ticket_id)]


@pytest.mark.parametrize("sensitive", [False, True], ids=["ordinary", "sensitive"])
def test_an_erased_reporter_reads_erased_everywhere_and_the_stored_events_are_untouched(
    app, actor, client, auth, projected, es_env, sensitive
):
    ticket_id = opened(app, actor, sensitive)
    stored = stored_states(app, ticket_id)
    assert not any(PHONE.encode() in state for state in stored)  # sealed under the ticket's key, inside the encrypted event
    erase_reporter(app, EraseReporter(actor=actor("admin"), ticket_id=ticket_id, reason="the reporter asked to be forgotten"))
    projected()
    assert stored_states(app, ticket_id)[: len(stored)] == stored  # the events as they were stored, their hashes too

    record = detail(client, auth("admin"), ticket_id)
    assert (record["reporter"]["name"], record["reporter"]["phone"], record["reporter"]["email"]) == (ERASED, ERASED, ERASED)
    assert (record["address"], record["location"]) == (ERASED, None)
    entries = history(client, auth("admin"), ticket_id)
    text = repr(entries)
    for secret in (PHONE, EMAIL, ADDRESS, "5 Quiet Road", "Lindiwe", "-29.85"):
        assert secret not in text, secret
    assert entries[-1]["event"] == "Erased" and entries[-1]["note"] == "the reporter asked to be forgotten"

    fresh = Docket(env=es_env)  # another process: nothing cached, the key is gone
    try:
        first = next(iter(fresh.events.get(ticket_id)))
        assert (first.reporter_phone, first.address, first.location, first.title) == (ERASED, ERASED, ERASED, "Broken pipe")
    finally:
        fresh.close()


def test_a_rebuild_after_an_erasure_gives_the_tables_the_live_projection_kept(app, actor, client, auth, projected):
    ticket_id = opened(app, actor)
    erase_reporter(app, EraseReporter(actor=actor("admin"), ticket_id=ticket_id, reason="asked"))
    projected()
    before = detail(client, auth("admin"), ticket_id), history(client, auth("admin"), ticket_id)
    rebuild(app, "tickets")
    assert (detail(client, auth("admin"), ticket_id), history(client, auth("admin"), ticket_id)) == before


def test_erasure_is_the_administrators_happens_once_and_nothing_personal_is_kept_again(app, actor, client, auth):
    ticket_id = opened(app, actor)
    url = f"{TICKETS}/{ticket_id}/erasure"
    refused(client.post(url, json={"reason": "x"}, headers=auth("manager")), 403, "role_not_allowed")
    refused(client.post(url, json={}, headers=auth("admin")), 400, "invalid_input", "reason")
    assert client.post(url, json={"reason": "asked"}, headers=auth("admin")).status_code == 200
    refused(client.post(url, json={"reason": "again"}, headers=auth("admin")), 409, "already_erased")
    with pytest.raises(Refused) as refusal:
        edit_ticket(app, EditTicket(actor=actor(), ticket_id=ticket_id, changes={"reporter_phone": PHONE}))
    assert refusal.value.code == "erased"
    edit_ticket(app, EditTicket(actor=actor(), ticket_id=ticket_id, changes={"priority": "high"}))  # the rest of the ticket goes on


def test_the_audit_chain_still_verifies_after_an_erasure(app, actor, projectors, projected, tenant):
    """The chain is over the events' stored bytes, which erasure leaves as they were."""
    ticket_id = opened(app, actor)
    chained(projectors, app)
    sign_heads(app.recorder.datastore, KEY, tenant)
    erase_reporter(app, EraseReporter(actor=actor("admin"), ticket_id=ticket_id, reason="asked"))
    chained(projectors, app)
    sign_heads(app.recorder.datastore, KEY, tenant)
    report = Report()
    trusted = trusted_checkpoints(list(recorded_checkpoints(app.recorder.datastore, tenant)), KEY.verify_key, report)
    report = verify_store(conninfo(app), trusted, tenant, report=report)
    assert report.intact, report.problems
    assert report.events >= 3 and report.checkpoints >= 2


def test_events_this_process_decoded_before_an_erasure_read_erased_after_it(app, actor):
    """A process keeps the events it decoded last for its other readers (commands/recent_events.py):
    what it keeps is sealed, so an erasure reaches the events it decoded before too."""
    start = app.recorder.max_notification_id() or 0
    ticket_id = opened(app, actor)
    before = [e for e, _ in events_after(app, start, TICKET_TOPICS) if str(e.originator_id) == str(ticket_id)]
    assert before[0].reporter_phone == PHONE
    erase_reporter(app, EraseReporter(actor=actor("admin"), ticket_id=ticket_id, reason="asked to be forgotten"))
    after = [e for e, _ in events_after(app, start, TICKET_TOPICS) if str(e.originator_id) == str(ticket_id)]
    assert (after[0].reporter_phone, after[0].reporter_email, after[0].address) == (ERASED, ERASED, ERASED)
    assert before[0].reporter_phone == PHONE  # the copy handed out before is the reader's own


def stored_keys(app, ticket_ids) -> set:
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT ticket_id FROM ticket_keys WHERE ticket_id = ANY(%s)", (list(ticket_ids),))
        return {row["ticket_id"] for row in curs.fetchall()}


def test_a_tickets_key_is_stored_with_its_events_and_not_without_them(app, actor):
    opened = open_ticket(app, OpenTicket(actor=actor("reporter", "r-keys"), title="Gate stuck", description="d", category="roads"))
    assert stored_keys(app, [opened.id]) == {opened.id}
    [first, second] = [app.repository.get(opened.id) for _ in range(2)]
    first.change_status(actor(), "in_progress")
    app.save(first)
    second.change_status(actor(), "escalated")  # the version the first took: the save fails
    new = Ticket.open(actor("reporter", "r-keys"), "TKT-KEYS-1", first.workflow, title="t", description="d", category="c")
    with pytest.raises(IntegrityError):
        app.save(new, second)
    assert stored_keys(app, [new.id]) == set()
    assert not list(app.events.get(new.id))


def test_keys_past_their_time_leave_memory_once_it_has_doubled_and_are_read_again_when_used(app, es_env):
    keys = TicketKeys(lambda: app.recorder.datastore, es_env["CIPHER_KEY"], ttl=0.2, sweep_at_least=10)
    old = [uuid4() for _ in range(10)]
    keys.make(old)  # 10 held, all in their time: none dropped
    sealed = keys.for_opening(old[0]).encrypt(b"n" * 12, b"personal", None)
    assert len(keys) == 10
    time.sleep(0.25)
    keys.make([uuid4() for _ in range(10)])  # doubled: the 10 past their time go
    assert len(keys) == 10
    assert keys.for_opening(old[0]).decrypt(b"n" * 12, sealed, None) == b"personal"  # read again, the same key
