"""A ticket's conversation through HTTP: public replies, staff-only internal notes that never
reach the reporter, the first response they make, the tenant's reporter-reply rule, and who
may read or write a conversation."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.http_helpers import TICKETS, detail, history, move, open_ticket, refused, statuses

# What agents do here, not which tickets their reading reaches (see test_agent_scope.py).
pytestmark = pytest.mark.usefixtures("agents_see_all")


def replies_url(ticket_id: str) -> str:
    return f"{TICKETS}/{ticket_id}/replies"


def reply(client, headers, ticket_id, body, **options):
    return client.post(replies_url(ticket_id), json={"body": body, **options}, headers=headers)


def posted(client, headers, ticket_id, body, **options):
    response = reply(client, headers, ticket_id, body, **options)
    assert response.status_code == 201, response.text
    return response.json()


def conversation(client, headers, ticket_id):
    response = client.get(replies_url(ticket_id), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_replies_and_internal_notes_are_kept_in_order_and_notes_never_reach_the_reporter(client, auth, projected):
    customer, agent = auth("reporter", "cust-1"), auth("agent", "agent-3")
    tid = open_ticket(client, customer, workflow="helpdesk")["id"]
    first = posted(client, customer, tid, "It still fails after a restart.")
    note = posted(client, agent, tid, "Looks like the SSO outage; customer is VIP.", internal=True)
    answer = posted(client, agent, tid, "Please try again now.", is_solution=True)
    assert (first["ticket_id"], first["status"], answer["version"]) == (tid, "open", 4)
    projected()

    staff_view = conversation(client, agent, tid)
    assert [r["id"] for r in staff_view["items"]] == [first["id"], note["id"], answer["id"]]
    assert [(r["author"], r["role"], r["internal"], r["is_solution"]) for r in staff_view["items"]] == [
        ("cust-1", "reporter", False, False), ("agent-3", "agent", True, False), ("agent-3", "agent", False, True),
    ]  # fmt: skip
    assert staff_view["total"] == 3
    assert conversation(client, auth("auditor"), tid)["total"] == 3

    reporter_view = client.get(replies_url(tid), headers=customer)
    assert [r["id"] for r in reporter_view.json()["items"]] == [first["id"], answer["id"]]
    assert reporter_view.json()["total"] == 2
    assert "SSO outage" not in reporter_view.text and note["id"] not in reporter_view.text

    reporter_history = client.get(f"{TICKETS}/{tid}/history", headers=customer)
    assert [e["event"] for e in reporter_history.json()["items"]] == ["Opened", "ReplyAdded", "ReplyAdded"]
    assert note["id"] not in reporter_history.text and reporter_history.json()["total"] == 3
    staff_history = history(client, agent, tid)
    assert [e["changes"]["reply_id"]["new"] for e in staff_history if e["event"] == "ReplyAdded"] == [first["id"], note["id"], answer["id"]]
    assert staff_history[3]["changes"]["is_solution"] == {"old": None, "new": True}

    mine = detail(client, customer, tid)
    assert (mine["reply_count"], mine["internal_note_count"]) == (2, None)
    theirs = detail(client, agent, tid)
    assert (theirs["reply_count"], theirs["internal_note_count"]) == (2, 1)
    listed = client.get(TICKETS, headers=customer).json()["items"]
    assert [(t["reply_count"], t["internal_note_count"]) for t in listed] == [(2, None)]


def test_the_first_response_is_the_first_public_staff_reply_not_a_note_nor_the_reporters_words(client, auth, projected):
    customer, agent = auth("reporter", "cust-1"), auth("agent")
    tid = open_ticket(client, customer, workflow="helpdesk")["id"]
    posted(client, customer, tid, "Any news?")
    posted(client, agent, tid, "Escalating to tier 2.", internal=True)
    projected()
    assert detail(client, agent, tid)["first_responded_at"] is None
    answer = posted(client, agent, tid, "We are on it.")
    posted(client, agent, tid, "Fixed now.")
    move(client, agent, tid, "answered")
    projected()
    entry = next(e for e in history(client, agent, tid) if e["changes"].get("reply_id", {}).get("new") == answer["id"])
    assert detail(client, agent, tid)["first_responded_at"] == entry["at"]


def test_a_reporters_reply_moves_a_ticket_waiting_for_them_only_where_the_tenant_turned_that_on(client, auth, projected):
    customer, agent, admin = auth("reporter", "cust-1"), auth("agent"), auth("admin")
    tid = open_ticket(client, customer, workflow="helpdesk")["id"]
    move(client, agent, tid, "answered")
    move(client, agent, tid, "waiting_for_response")
    assert posted(client, customer, tid, "Here is the log file.")["status"] == "waiting_for_response"  # the rule is off by default

    refused(client.put("/api/v1/tenant-settings", json={"reporter_reply_moves_ticket": True}, headers=agent), 403, "role_not_allowed")
    turned_on = client.put("/api/v1/tenant-settings", json={"reporter_reply_moves_ticket": True}, headers=admin)
    assert turned_on.status_code == 200, turned_on.text
    assert turned_on.json()["reporter_reply_moves_ticket"] is True
    assert posted(client, agent, tid, "Did that help?")["status"] == "waiting_for_response"  # staff replies move nothing
    assert posted(client, customer, tid, "Still broken.", internal=False)["status"] == "in_progress"
    assert posted(client, customer, tid, "Any update?")["status"] == "in_progress"  # not waiting: stays
    projected()
    assert client.get("/api/v1/tenant-settings", headers=customer).json()["reporter_reply_moves_ticket"] is True
    assert detail(client, customer, tid)["status"] == "in_progress"
    entries = history(client, agent, tid)
    assert statuses(entries) == [("open", "answered"), ("answered", "waiting_for_response"), ("waiting_for_response", "in_progress")]
    moved = [e for e in entries if e["event"] == "StatusChanged"][-1]
    assert (moved["actor"], moved["role"], moved["note"]) == ("cust-1", "reporter", "The reporter replied.")


def test_a_municipal_ticket_has_no_waiting_state_so_a_reporters_reply_never_moves_it(client, auth, projected):
    citizen = auth("reporter", "citizen-1")
    assert client.put("/api/v1/tenant-settings", json={"reporter_reply_moves_ticket": True}, headers=auth("admin")).status_code == 200
    tid = open_ticket(client, citizen)["id"]
    move(client, auth("agent"), tid, "in_progress")
    assert posted(client, citizen, tid, "Thanks!")["status"] == "in_progress"


def test_a_reporter_may_not_post_an_internal_note_nor_mark_a_solution_and_nothing_is_stored(client, auth, app):
    customer = auth("reporter", "cust-1")
    tid = open_ticket(client, customer, workflow="helpdesk")["id"]
    before = app.recorder.max_notification_id()
    refused(reply(client, customer, tid, "psst", internal=True), 403, "role_not_allowed")
    refused(reply(client, customer, tid, "solved it myself", is_solution=True), 403, "role_not_allowed", "is_solution")
    refused(reply(client, customer, tid, "   "), 400, "missing_field", "body")
    refused(reply(client, customer, tid, ""), 400, "invalid_input", "body")
    refused(client.post(replies_url(tid), json={"text": "hi"}, headers=customer), 400, "invalid_input")
    assert app.recorder.max_notification_id() == before


def test_a_reporter_cannot_read_or_answer_another_reporters_conversation(client, auth, projected):
    tid = open_ticket(client, auth("reporter", "cust-1"))["id"]
    posted(client, auth("agent"), tid, "Crew scheduled for Monday.")
    projected()
    stranger = auth("reporter", "cust-2")
    answer = client.get(replies_url(tid), headers=stranger)
    refused(answer, 404, "ticket_not_found")
    assert "Monday" not in answer.text
    refused(reply(client, stranger, tid, "me too"), 404, "ticket_not_found")


def test_a_ward_councillor_reads_their_wards_conversation_but_cannot_reply_or_edit(client, auth, projected, app):
    tid = open_ticket(client, auth("reporter"), ward="w1")["id"]
    posted(client, auth("agent"), tid, "Staff only detail.", internal=True)
    posted(client, auth("agent"), tid, "Scheduled.")
    projected()
    councillor = auth("ward_councillor", "cllr-1", ward="w1")
    seen = conversation(client, councillor, tid)
    assert [r["body"] for r in seen["items"]] == ["Scheduled."]
    before = app.recorder.max_notification_id()
    refused(reply(client, councillor, tid, "I will look into it"), 403, "role_not_allowed")
    refused(client.patch(f"{TICKETS}/{tid}", json={"priority": "urgent"}, headers=councillor), 403, "role_not_allowed")
    assert app.recorder.max_notification_id() == before
    refused(client.get(replies_url(tid), headers=auth("ward_councillor", "cllr-2", ward="w2")), 404, "ticket_not_found")


def test_a_sensitive_tickets_conversation_is_for_liaison_officers_admins_and_its_reporter_only(client, auth, projected):
    survivor = auth("reporter", "survivor")
    tid = open_ticket(client, survivor, title="Private report", category="gbv", is_sensitive=True)["id"]
    posted(client, auth("liaison", "liaison-1"), tid, "We will call you on the safe number.")
    projected()
    for role in ("manager", "agent", "auditor"):
        answer = client.get(replies_url(tid), headers=auth(role))
        refused(answer, 403, "restricted_ticket")
        assert "safe number" not in answer.text
    refused(reply(client, auth("manager"), tid, "Let me help"), 403, "restricted_ticket")
    refused(reply(client, auth("agent"), tid, "note", internal=True), 403, "restricted_ticket")
    assert conversation(client, auth("admin"), tid)["total"] == 1
    assert conversation(client, survivor, tid)["items"][0]["body"] == "We will call you on the safe number."
    assert posted(client, survivor, tid, "Thank you.")["ticket_id"] == tid


def test_another_tenants_ticket_does_not_exist_for_replies_or_edits(client, auth, projected, tenant):
    tid = open_ticket(client, auth("reporter"))["id"]
    posted(client, auth("agent"), tid, "Our reply.")
    projected()
    outsider = auth("admin", tenant_=tenant + "other")
    answer = client.get(replies_url(tid), headers=outsider)
    refused(answer, 404, "ticket_not_found")
    assert "Our reply" not in answer.text
    refused(reply(client, outsider, tid, "hello"), 404, "ticket_not_found")
    refused(client.patch(f"{TICKETS}/{tid}", json={"title": "Hijacked"}, headers=outsider), 404, "ticket_not_found")
    refused(client.get(replies_url(str(uuid.uuid4())), headers=auth("admin")), 404, "ticket_not_found")
    projected()
    assert detail(client, auth("admin"), tid)["title"] != "Hijacked"


def test_a_conversation_and_a_history_read_in_pages_count_what_the_reader_may_see(client, auth, projected):
    customer, agent = auth("reporter", "cust-1"), auth("agent", "agent-3")
    tid = open_ticket(client, customer, workflow="helpdesk")["id"]
    for n in range(3):
        posted(client, customer, tid, f"reply {n}")
        posted(client, agent, tid, f"note {n}", internal=True)
    projected()

    def page(headers, url, number):
        response = client.get(url, params={"page": number, "page_size": 2}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    second = page(agent, replies_url(tid), 2)
    assert (second["total"], second["page_count"]) == (6, 3)
    assert [r["body"] for r in second["items"]] == ["reply 1", "note 1"]
    second = page(customer, replies_url(tid), 2)  # the notes are not the reporter's to read, nor to count
    assert (second["total"], second["page_count"]) == (3, 2)
    assert [r["body"] for r in second["items"]] == ["reply 2"]
    posted(client, customer, tid, "reply 3")
    projected()
    assert page(customer, replies_url(tid), 2)["total"] == 4  # counted again once the reply is projected

    entries = page(agent, f"{TICKETS}/{tid}/history", 1)
    assert entries["total"] == 8 and [e["event"] for e in entries["items"]] == ["Opened", "ReplyAdded"]
