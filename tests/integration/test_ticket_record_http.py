"""The ticket record through HTTP: its fields and their checks, tracking numbers, edits with old
and new values, transfer, archive (a soft delete) and redaction of personal data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from projections.operations import rebuild
from projections.ticket_tables import LIVE
from tests.integration.http_helpers import TICKETS, detail, history, move, open_ticket, refused, to_crew

# What agents do here, not which tickets their reading reaches (see test_agent_scope.py).
pytestmark = pytest.mark.usefixtures("agents_see_all")

FULL = {
    "title": "Gas smell near school",
    "description": "Strong smell by the east gate since 7am",
    "category": "gas",
    "priority": "high",
    "severity": "major",
    "ticket_type": "hazard",
    "reporter": {"id": "citizen-42", "name": "Ada Obi", "phone": "+44 20 7946 0958", "email": "ada@example.org"},
    "location": {"lat": -33.9249, "lon": 18.4241},
    "address": "12 Long St",
    "ward": "w7",
    "tags": ["gas", "school"],
    "watchers": ["agent-9", "manager-2"],
    "custom_fields": {"meter_id": "M-881", "floors": 3, "children_present": True},
}


def test_the_full_record_is_kept_as_opened_on_someones_behalf(client, auth, projected):
    opened = client.post(TICKETS, json=FULL, headers=auth("agent", "agent-9"))
    assert opened.status_code == 201, opened.text
    tid = opened.json()["id"]
    projected()
    record = detail(client, auth("manager"), tid)
    for name in (
        "title",
        "description",
        "category",
        "priority",
        "severity",
        "ticket_type",
        "address",
        "ward",
        "tags",
        "watchers",
        "custom_fields",
    ):
        assert record[name] == FULL[name], name
    assert record["reporter"] == FULL["reporter"]
    assert record["location"] == FULL["location"]
    assert (record["workflow"], record["is_sensitive"], record["archived"], record["assignee_id"]) == ("municipal", False, False, None)
    assert (record["reply_count"], record["attachment_count"], record["reopen_count"], record["version"]) == (0, 0, 0, 1)
    # the reporter named reads it as their own
    assert detail(client, auth("reporter", "citizen-42"), tid)["title"] == FULL["title"]
    opening = history(client, auth("manager"), tid)[0]
    assert (opening["event"], opening["actor"], opening["role"]) == ("Opened", "agent-9", "agent")
    assert opening["changes"]["reporter_email"] == {"old": None, "new": "ada@example.org"}
    assert opening["changes"]["location"] == {"old": None, "new": FULL["location"]}


def test_a_reporter_always_reports_for_themselves(client, auth, projected):
    tid = open_ticket(client, auth("reporter", "citizen-1"), reporter={"id": "someone-else", "name": "Me"})["id"]
    projected()
    assert detail(client, auth("manager"), tid)["reporter"]["id"] == "citizen-1"
    refused(client.get(f"{TICKETS}/{tid}", headers=auth("reporter", "someone-else")), 404, "ticket_not_found")


@pytest.mark.parametrize(
    ("change", "status_code", "code", "field"),
    [
        ({"location": {"lat": 10, "lon": 181}}, 400, "invalid_input", "location.lon"),
        ({"location": {"lat": -90.5, "lon": 0}}, 400, "invalid_input", "location.lat"),
        ({"location": {"lat": 10}}, 400, "invalid_input", "location.lon"),
        ({"priority": "critical"}, 400, "invalid_input", "priority"),
        ({"severity": "huge"}, 400, "invalid_input", "severity"),
        ({"reporter": {"phone": "call me maybe"}}, 400, "invalid_phone", "reporter.phone"),
        ({"reporter": {"email": "not-an-address"}}, 400, "invalid_email", "reporter.email"),
        ({"tags": ["ok", "has space"]}, 400, "invalid_label", "tags"),
        ({"watchers": ["a" * 65]}, 400, "invalid_input", "watchers"),
        ({"custom_fields": {"Bad Name": 1}}, 400, "invalid_custom_field", "custom_fields"),
        ({"custom_fields": {"nested": {"a": 1}}}, 400, "invalid_input", "custom_fields"),
        ({"title": "   "}, 400, "missing_field", "title"),
    ],
)
def test_a_bad_field_at_opening_is_400_naming_it_and_stores_nothing(client, auth, app, change, status_code, code, field):
    before = app.recorder.max_notification_id()
    response = client.post(TICKETS, json={**FULL, **change}, headers=auth("agent"))
    body = refused(response, status_code, code)
    assert body["field"].startswith(field), body
    assert app.recorder.max_notification_id() == before


def test_tracking_numbers_are_readable_sequential_and_unique_per_tenant(client, auth, projected, tenant):
    mine = [open_ticket(client, auth("reporter", f"c{i}"))["tracking_number"] for i in range(3)]
    theirs = open_ticket(client, auth("reporter", tenant_=tenant + "b"))["tracking_number"]
    assert mine == ["TKT-000001", "TKT-000002", "TKT-000003"]
    assert theirs == "TKT-000001"
    projected()
    listed = client.get(TICKETS, headers=auth()).json()["items"]
    assert sorted(t["tracking_number"] for t in listed) == mine


def test_an_edit_records_each_changed_field_with_its_old_and_new_value(client, auth, projected):
    manager = auth("manager", "manager-5")
    tid = open_ticket(client, auth("reporter"), priority="low", tags=["lamp"], watchers=["agent-1"])["id"]
    edit = {
        "title": "Three streetlights out",
        "description": "Whole block is dark",
        "priority": "urgent",
        "category": "electrical",
        "tags": ["lamp", "block"],
        "watchers": ["agent-1", "cllr-2"],
        "status": "closed",
    }
    refused(client.patch(f"{TICKETS}/{tid}", json=edit, headers=manager), 400, "invalid_input", "status")  # moves by its own command
    del edit["status"]
    changed = client.patch(f"{TICKETS}/{tid}", json={**edit, "severity": None}, headers=manager)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    projected()
    record = detail(client, manager, tid)
    assert {name: record[name] for name in edit} == edit
    entry = history(client, manager, tid)[-1]
    assert (entry["event"], entry["actor"], entry["role"]) == ("Edited", "manager-5", "manager")
    assert entry["changes"] == {
        "title": {"old": "Streetlight out", "new": "Three streetlights out"},
        "description": {"old": "Dark corner on Oak Rd", "new": "Whole block is dark"},
        "priority": {"old": "low", "new": "urgent"},
        "category": {"old": "lighting", "new": "electrical"},
        "tags": {"old": ["lamp"], "new": ["lamp", "block"]},
        "watchers": {"old": ["agent-1"], "new": ["agent-1", "cllr-2"]},
    }  # severity was already null: not a change


def test_an_edit_that_changes_nothing_records_nothing_and_a_stale_one_is_refused(client, auth, projected, app):
    agent = auth("agent")
    tid = open_ticket(client, auth("reporter"), priority="high")["id"]
    before = app.recorder.max_notification_id()
    same = client.patch(f"{TICKETS}/{tid}", json={"priority": "high", "title": "Streetlight out"}, headers=agent)
    assert same.status_code == 200 and (same.json()["version"], same.json()["notification_id"]) == (1, None)
    assert app.recorder.max_notification_id() == before
    assert client.patch(f"{TICKETS}/{tid}", json={"priority": "low"}, headers=agent).json()["version"] == 2
    refused(client.patch(f"{TICKETS}/{tid}", json={"priority": "medium", "expected_version": 1}, headers=agent), 409, "version_conflict")
    refused(client.patch(f"{TICKETS}/{tid}", json={"title": None}, headers=agent), 400, "invalid_input", "title")
    refused(client.patch(f"{TICKETS}/{tid}", json={"status": "closed"}, headers=agent), 400, "invalid_input", "status")
    refused(client.patch(f"{TICKETS}/{tid}", json={"priority": "low"}, headers=auth("reporter")), 403, "role_not_allowed")
    projected()
    assert detail(client, agent, tid)["priority"] == "low"
    assert [e["event"] for e in history(client, agent, tid)] == ["Opened", "Edited"]


def test_a_transfer_records_the_old_and_new_assignee_and_the_reason(client, auth, projected):
    manager = auth("manager")
    tid = open_ticket(client, auth("reporter"))["id"]
    refused(client.post(f"{TICKETS}/{tid}/transfer", json={"assignee_id": "agent-1"}, headers=manager), 409, "no_team", "assignee_id")
    to_crew(client, auth("admin"), tid, "agent-1", "agent-2")
    refused(client.post(f"{TICKETS}/{tid}/transfer", json={"assignee_id": "stranger"}, headers=manager), 409, "not_a_member", "assignee_id")
    first = client.post(f"{TICKETS}/{tid}/transfer", json={"assignee_id": "agent-1"}, headers=manager)
    assert first.status_code == 200, first.text
    second = client.post(f"{TICKETS}/{tid}/transfer", json={"assignee_id": "agent-2", "reason": "agent-1 on leave"}, headers=manager)
    assert second.json()["version"] == 4  # opened, given to the crew, two transfers
    refused(
        client.post(f"{TICKETS}/{tid}/transfer", json={"assignee_id": "agent-2"}, headers=manager), 409, "already_assigned", "assignee_id"
    )
    refused(client.post(f"{TICKETS}/{tid}/transfer", json={"assignee_id": "me"}, headers=auth("reporter")), 403, "role_not_allowed")
    refused(client.post(f"{TICKETS}/{tid}/transfer", json={}, headers=manager), 400, "invalid_input", "assignee_id")
    projected()
    assert detail(client, manager, tid)["assignee_id"] == "agent-2"
    transfers = [e for e in history(client, manager, tid) if e["event"] == "Transferred"]
    assert [(e["changes"]["assignee_id"], e["note"]) for e in transfers] == [
        ({"old": None, "new": "agent-1"}, None),
        ({"old": "agent-1", "new": "agent-2"}, "agent-1 on leave"),
    ]


def test_an_archived_ticket_leaves_the_lists_stays_in_the_record_and_refuses_every_command(client, auth, projected, app):
    manager, admin = auth("manager"), auth("admin")
    kept = open_ticket(client, auth("reporter", "citizen-1"))["id"]
    tid = open_ticket(client, auth("reporter", "citizen-1"), address="3 Short St")["id"]
    refused(client.delete(f"{TICKETS}/{tid}", headers=auth("agent")), 403, "role_not_allowed")
    archived = client.delete(f"{TICKETS}/{tid}", params={"reason": "duplicate of another report"}, headers=manager)
    assert archived.status_code == 200, archived.text
    projected()
    for caller in (manager, auth("reporter", "citizen-1")):
        listed = client.get(TICKETS, headers=caller).json()
        assert ([t["id"] for t in listed["items"]], listed["total"]) == ([kept], 1)
    assert detail(client, manager, tid)["archived"] is True
    last = history(client, auth("auditor"), tid)[-1]
    assert (last["event"], last["changes"], last["note"]) == (
        "Archived",
        {"archived": {"old": False, "new": True}},
        "duplicate of another report",
    )

    before = app.recorder.max_notification_id()
    url = f"{TICKETS}/{tid}"
    attempts = [
        client.patch(f"{url}/status", json={"status": "in_progress"}, headers=manager),
        client.patch(url, json={"title": "New title"}, headers=manager),
        client.post(f"{url}/replies", json={"body": "hello?"}, headers=auth("reporter", "citizen-1")),
        client.post(f"{url}/replies", json={"body": "note", "internal": True}, headers=manager),
        client.post(f"{url}/transfer", json={"assignee_id": "agent-1"}, headers=manager),
        client.delete(url, headers=admin),
    ]
    for response in attempts:
        body = refused(response, 409, "archived")
        assert "archived" in body["message"]
    assert app.recorder.max_notification_id() == before
    # Personal data stays erasable: an archived ticket is still redacted.
    redacted = client.post(f"{url}/redactions", json={"field": "address", "reason": "erasure request"}, headers=admin)
    assert redacted.status_code == 200, redacted.text


def test_an_admin_redacts_a_personal_field_from_the_detail_and_every_history_entry(client, auth, projected, app):
    admin, manager = auth("admin", "admin-9"), auth("manager")
    opened = client.post(TICKETS, json=FULL, headers=auth("agent"))
    tid = opened.json()["id"]
    assert client.patch(f"{TICKETS}/{tid}", json={"address": "14 Long St"}, headers=manager).status_code == 200

    before = app.recorder.max_notification_id()
    refused(
        client.post(f"{TICKETS}/{tid}/redactions", json={"field": "address", "reason": "GDPR"}, headers=manager), 403, "role_not_allowed"
    )
    refused(
        client.post(f"{TICKETS}/{tid}/redactions", json={"field": "title", "reason": "GDPR"}, headers=admin), 400, "invalid_input", "field"
    )
    refused(client.post(f"{TICKETS}/{tid}/redactions", json={"field": "address"}, headers=admin), 400, "invalid_input", "reason")
    assert app.recorder.max_notification_id() == before

    for field in ("address", "reporter_phone", "location"):
        done = client.post(f"{TICKETS}/{tid}/redactions", json={"field": field, "reason": "erasure request 77"}, headers=admin)
        assert done.status_code == 200, done.text
    refused(
        client.post(f"{TICKETS}/{tid}/redactions", json={"field": "address", "reason": "again"}, headers=admin),
        409,
        "nothing_to_redact",
        "field",
    )
    projected()

    record = detail(client, manager, tid)
    assert (record["address"], record["reporter"]["phone"], record["location"]) == (None, None, None)
    assert (record["reporter"]["name"], record["reporter"]["email"]) == ("Ada Obi", "ada@example.org")  # only what was asked
    entries = client.get(f"{TICKETS}/{tid}/history", headers=auth("auditor"))
    text = json.dumps(entries.json())
    for secret in ("12 Long St", "14 Long St", "7946 0958", "-33.9249", "18.4241"):
        assert secret not in text, secret
    items = entries.json()["items"]
    assert items[0]["changes"]["address"] == {"old": "[redacted]", "new": "[redacted]"}
    assert items[1]["changes"]["address"] == {"old": "[redacted]", "new": "[redacted]"}
    redactions = [e for e in items if e["event"] == "FieldRedacted"]
    assert [(list(e["changes"]), e["actor"], e["note"]) for e in redactions] == [
        (["address"], "admin-9", "erasure request 77"),
        (["reporter_phone"], "admin-9", "erasure request 77"),
        (["location"], "admin-9", "erasure request 77"),
    ]
    assert "Ada Obi" in text  # an unredacted field is still there


def rows_of(engine, ticket_id):
    with engine.connect() as conn:
        ticket = conn.execute(select(LIVE.tickets).where(LIVE.tickets.c.id == ticket_id)).mappings().one()
        entries = conn.execute(select(LIVE.history).where(LIVE.history.c.ticket_id == ticket_id).order_by(LIVE.history.c.version)).all()
    return dict(ticket), entries


def test_a_rebuilt_read_model_keeps_the_redaction(client, auth, projected, app, engine):
    tid = open_ticket(client, auth("reporter"), address="9 Hidden Way", reporter={"email": "me@example.org"})["id"]
    for field in ("address", "reporter_email"):
        assert client.post(f"{TICKETS}/{tid}/redactions", json={"field": field, "reason": "r"}, headers=auth("admin")).status_code == 200
    projected()
    before = rows_of(engine, tid)
    rebuild(app, "tickets")
    after = rows_of(engine, tid)
    assert after == before
    assert (after[0]["address"], after[0]["reporter_email"]) == (None, None)
    assert "9 Hidden Way" not in repr(after[1]) and "me@example.org" not in repr(after[1])


def test_a_redaction_survives_a_later_edit_of_the_same_field(client, auth, projected):
    admin, manager = auth("admin"), auth("manager")
    tid = open_ticket(client, auth("reporter"), address="1 Secret Lane")["id"]
    assert client.post(f"{TICKETS}/{tid}/redactions", json={"field": "address", "reason": "r"}, headers=admin).status_code == 200
    assert client.patch(f"{TICKETS}/{tid}", json={"address": "Public square"}, headers=manager).status_code == 200
    move(client, manager, tid, "in_progress")
    projected()
    assert detail(client, manager, tid)["address"] == "Public square"
    entries = history(client, manager, tid)
    assert "1 Secret Lane" not in json.dumps(entries)
    assert entries[-2]["changes"]["address"] == {"old": None, "new": "Public square"}
