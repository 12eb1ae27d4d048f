"""The auditors' endpoints: the event store read directly, as JSON pages or an NDJSON stream, a
ticket's own stream, tickets as of a version or a moment, and the public key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from domain.audit_access import REDACTED
from domain.audit_keys import new_signing_key_text, signing_key_from_text
from projections.audit_checkpoints import register_key
from tests.integration.audit_helpers import chained
from tests.integration.http_helpers import TICKETS, detail, move, open_ticket, refused

EVENTS = "/api/v1/audit/events"
NDJSON = {"Accept": "application/x-ndjson"}


@pytest.fixture
def trail(client, auth, app, projectors, projected):
    """Two tickets of this tenant (one moved, one with its phone redacted) and one of another tenant."""
    manager, admin = auth("manager"), auth("admin")
    first = open_ticket(client, auth("reporter"), reporter={"name": "Ann", "phone": "+27 21 555 0100"})
    move(client, manager, first["id"], "in_progress", note="crew sent")
    second = open_ticket(client, auth("reporter"), reporter={"name": "Bo", "phone": "+27 21 555 0199"})
    assert (
        client.post(f"{TICKETS}/{second['id']}/redactions", json={"field": "reporter_phone", "reason": "asked"}, headers=admin).status_code
        == 200
    )
    elsewhere = open_ticket(client, auth("reporter", tenant_="another-tenant"))
    chained(projectors, app)
    projected()
    return first, second, elsewhere


def test_an_auditor_reads_the_tenants_events_in_order_with_hashes_and_redacted_fields_kept_redacted(client, auth, trail):
    first, second, elsewhere = trail
    page = client.get(EVENTS, headers=auth("auditor"))
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [(i["aggregate_id"], i["event"], i["version"]) for i in items] == [
        (first["id"], "Opened", 1),
        (first["id"], "StatusChanged", 2),
        (second["id"], "Opened", 1),
        (second["id"], "FieldRedacted", 2),
    ]
    assert [i["notification_id"] for i in items] == sorted(i["notification_id"] for i in items)
    assert page.json()["next_after"] == items[-1]["notification_id"]
    moved = items[1]
    assert (moved["actor"], moved["role"], moved["aggregate_type"], moved["fields"]["note"]) == (
        "manager-1",
        "manager",
        "Ticket",
        "crew sent",
    )
    assert len(moved["hash"]) == 64 and moved["readable"] is True
    assert items[0]["fields"]["reporter_phone"] == "+27 21 555 0100"
    assert items[2]["fields"]["reporter_phone"] == REDACTED and items[2]["fields"]["reporter_name"] == "Bo"
    assert elsewhere["id"] not in page.text and "555 0199" not in page.text


def test_pages_follow_on_from_next_after_and_filters_narrow_them(client, auth, trail):
    first, second, _ = trail
    headers = auth("admin")
    whole = client.get(EVENTS, headers=headers).json()["items"]
    one = client.get(EVENTS, params={"limit": 1}, headers=headers).json()
    rest = client.get(EVENTS, params={"after": one["next_after"]}, headers=headers).json()
    assert one["items"] + rest["items"] == whole
    assert client.get(EVENTS, params={"after": rest["next_after"]}, headers=headers).json() == {
        "items": [],
        "next_after": rest["next_after"],
    }
    typed = client.get(EVENTS, params={"type": ["StatusChanged", "Ticket.FieldRedacted"]}, headers=headers).json()["items"]
    assert [i["event"] for i in typed] == ["StatusChanged", "FieldRedacted"]
    of_second = client.get(EVENTS, params={"aggregate_id": second["id"]}, headers=headers).json()["items"]
    assert {i["aggregate_id"] for i in of_second} == {second["id"]}
    moment = datetime.fromisoformat(whole[1]["at"])
    since = client.get(EVENTS, params={"from": moment.isoformat()}, headers=headers).json()["items"]
    until = client.get(EVENTS, params={"to": moment.isoformat()}, headers=headers).json()["items"]
    assert since == whole[1:] and until == whole[:2]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get(EVENTS, params={"from": future}, headers=headers).json()["items"] == []


def test_with_accept_ndjson_the_events_stream_one_a_line_until_the_limit(client, auth, trail):
    headers = {**auth("auditor"), **NDJSON}
    whole = client.get(EVENTS, headers=auth("auditor")).json()["items"]
    streamed = client.get(EVENTS, headers=headers)
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in streamed.text.splitlines()] == whole
    limited = client.get(EVENTS, params={"limit": 3}, headers=headers)
    assert len(limited.text.splitlines()) == 3
    refused(client.get(EVENTS, params={"after": -1}, headers=headers), 400, "invalid_input", "after")


def test_only_auditors_and_admins_read_the_trail_and_bad_input_is_a_400_naming_the_field(client, auth, trail):
    for role in ("reporter", "agent", "manager", "ward_councillor", "liaison"):
        assert client.get(EVENTS, headers=auth(role, ward="w1")).status_code == 403, role
        assert client.get(f"{TICKETS}/{trail[0]['id']}/events", headers=auth(role, ward="w1")).status_code == 403, role
    assert client.get(EVENTS).status_code == 401
    auditor = auth("auditor")
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"after": "x"}, "after"),
        ({"type": "not a type!"}, "type"),
        ({"aggregate_id": "nope"}, "aggregate_id"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ):
        response = client.get(EVENTS, params=params, headers=auditor)
        assert response.status_code == 400 and response.json().get("field") == field, (params, response.text)


def test_a_sensitive_tickets_events_reach_an_auditor_only_once_the_admin_clears_auditors(client, auth, app, projectors, projected, trail):
    first = trail[0]
    secret = open_ticket(client, auth("reporter"), title="GBV report", is_sensitive=True)
    assert client.post(f"{TICKETS}/{first['id']}/sensitive", json={"reason": "it is"}, headers=auth("admin")).status_code == 200
    chained(projectors, app)
    projected()  # a tracking number is looked up in the read model
    auditor, admin = auth("auditor"), auth("admin")
    seen = client.get(EVENTS, headers=auditor)
    assert secret["id"] not in seen.text and first["id"] not in seen.text and "GBV" not in seen.text  # made sensitive: all its events
    assert secret["id"] not in client.get(EVENTS, headers={**auditor, **NDJSON}).text
    assert client.get(f"{TICKETS}/{secret['id']}/events", headers=auditor).status_code == 403
    assert {secret["id"], first["id"]} <= {i["aggregate_id"] for i in client.get(EVENTS, headers=admin).json()["items"]}
    assert client.put("/api/v1/audit/settings", json={"auditors_see_sensitive": True}, headers=auditor).status_code == 403
    cleared = client.put("/api/v1/audit/settings", json={"auditors_see_sensitive": True}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["auditors_see_sensitive"] is True
    assert client.get("/api/v1/audit/settings", headers=auditor).json() == {"auditors_see_sensitive": True}
    chained(projectors, app)
    assert secret["id"] in client.get(EVENTS, headers=auditor).text
    assert client.get(f"{TICKETS}/{secret['id']}/events", headers=auditor).status_code == 200
    assert client.get(f"{TICKETS}/{secret['tracking_number']}/events", headers=auditor).status_code == 200  # by number too


def test_a_tickets_own_stream_by_id_or_tracking_number_and_nothing_of_another_tenants(client, auth, trail):
    first, second, elsewhere = trail
    auditor = auth("auditor")
    own = client.get(f"{TICKETS}/{first['id']}/events", headers=auditor)
    assert own.status_code == 200 and [i["event"] for i in own.json()["items"]] == ["Opened", "StatusChanged"]
    by_number = client.get(f"{TICKETS}/{first['tracking_number']}/events", headers=auditor).json()
    assert by_number == own.json()
    streamed = client.get(f"{TICKETS}/{second['id']}/events", headers={**auditor, **NDJSON}).text.splitlines()
    assert [json.loads(line)["event"] for line in streamed] == ["Opened", "FieldRedacted"]
    refused(client.get(f"{TICKETS}/{elsewhere['id']}/events", headers=auditor), 404, "ticket_not_found")
    refused(client.get(f"{TICKETS}/TKT-999999/events", headers=auditor), 404, "ticket_not_found")
    assert elsewhere["id"] not in client.get(f"{TICKETS}/{elsewhere['id']}/events", headers=auditor).text.replace(
        f"No ticket {elsewhere['id']}", ""
    )


def test_the_public_key_is_served_without_a_token(client, app):
    key = signing_key_from_text(new_signing_key_text())
    register_key(app.recorder.datastore, key.verify_key)
    answer = client.get("/api/v1/audit/public-key")
    assert answer.status_code == 200
    assert answer.json() == {"key_id": key.key_id, "public_key": key.verify_key.pem}


# A ticket as of a version or a moment


def test_a_ticket_replayed_to_each_of_its_versions_is_what_the_read_model_showed_then(client, auth, app, projected):
    admin, manager = auth("admin"), auth("manager")
    assert (
        client.put(
            "/api/v1/sla-policies", json={"policies": [{"id": "std", "response_hours": 4, "resolution_hours": 48}]}, headers=admin
        ).status_code
        == 200
    )
    ticket = open_ticket(client, auth("reporter"), reporter={"name": "Ann", "phone": "+27 21 555 0100"}, address="1 Oak Rd")
    shown = {}
    projected()
    shown[detail(client, admin, ticket["id"])["version"]] = detail(client, admin, ticket["id"])

    def ok(response) -> None:
        assert response.status_code in (200, 201), response.text

    steps = [
        lambda: move(client, manager, ticket["id"], "in_progress", note="crew sent"),
        lambda: ok(client.post(f"{TICKETS}/{ticket['id']}/replies", json={"body": "On our way"}, headers=manager)),
        lambda: ok(client.patch(f"{TICKETS}/{ticket['id']}", json={"priority": "urgent", "ward": "w9"}, headers=manager)),
        lambda: move(client, manager, ticket["id"], "resolved"),
        lambda: move(client, manager, ticket["id"], "in_progress", note="came back"),
    ]
    for step in steps:
        step()
        projected()
        now = detail(client, admin, ticket["id"])
        shown[now["version"]] = now
    assert (
        client.post(f"{TICKETS}/{ticket['id']}/redactions", json={"field": "address", "reason": "asked"}, headers=admin).status_code == 200
    )
    projected()
    for version, then in shown.items():
        replayed = client.get(f"{TICKETS}/{ticket['id']}", params={"as_of_version": version}, headers=admin)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json() == {**then, "address": None}, version  # redacted since: redacted in the past too
    moment = datetime.fromisoformat(shown[min(shown)]["updated_at"])
    as_of = client.get(f"{TICKETS}/{ticket['tracking_number']}", params={"as_of": moment.isoformat()}, headers=admin).json()
    assert as_of["status"] == "open" and as_of["version"] == shown[min(shown)]["version"]


def test_as_of_refuses_a_time_before_the_opening_a_version_it_never_had_and_both_at_once(client, auth, projected):
    ticket = open_ticket(client, auth("reporter"))
    projected()
    url, manager = f"{TICKETS}/{ticket['id']}", auth("manager")
    refused(client.get(url, params={"as_of": "2000-01-01T00:00:00Z"}, headers=manager), 404, "not_yet_opened", "as_of")
    refused(client.get(url, params={"as_of_version": 99}, headers=manager), 404, "no_such_version", "as_of_version")
    refused(
        client.get(url, params={"as_of_version": 1, "as_of": "2030-01-01T00:00:00Z"}, headers=manager),
        400,
        "invalid_input",
        "as_of_version",
    )
    refused(client.get(url, params={"as_of_version": 0}, headers=manager), 400, "invalid_input", "as_of_version")
    refused(client.get(url, params={"as_of": "soon"}, headers=manager), 400, "invalid_input", "as_of")
    assert client.get(url, params={"as_of_version": 1}, headers=auth("manager", tenant_="elsewhere")).status_code == 404
    naive = client.get(url, params={"as_of": datetime.now(UTC).replace(tzinfo=None).isoformat()}, headers=manager)
    assert naive.status_code == 200 and naive.json()["version"] == 1
