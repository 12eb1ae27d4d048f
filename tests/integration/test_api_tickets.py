"""The tickets API over HTTP (in-process), on the real database and projection."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import TestClient

NEW = {
    "title": "Burst pipe",
    "description": "Water on Elm St",
    "category": "water",
    "priority": "urgent",
    "ward": "w3",
    "location": {"lat": 51.5, "lon": -0.12},
}


def open_ticket(client, auth, **overrides):
    response = client.post("/api/v1/tickets", json={**NEW, **overrides}, headers=auth("reporter", "citizen-1"))
    assert response.status_code == 201, response.text
    return response.json()


def test_opening_answers_201_with_id_tracking_number_status_and_time(client, auth):
    body = open_ticket(client, auth)
    uuid.UUID(body["id"])
    assert body["tracking_number"].startswith("TKT-")
    assert body["status"] == "open"
    assert body["created_at"].endswith("Z")


def test_a_ticket_can_be_found_changed_and_its_history_read(client, auth, projected):
    ticket = open_ticket(client, auth)
    changed = client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "in_progress", "note": "crew sent"}, headers=auth())
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["version"]) == ("in_progress", 2)
    projected()
    detail = client.get(f"/api/v1/tickets/{ticket['id']}", headers=auth()).json()
    assert (detail["status"], detail["ward"], detail["location"]) == ("in_progress", "w3", {"lat": 51.5, "lon": -0.12})
    history = client.get(f"/api/v1/tickets/{ticket['id']}/history", headers=auth("auditor")).json()
    assert [e["event"] for e in history["items"]] == ["Opened", "StatusChanged"]
    change = history["items"][1]
    assert (change["actor"], change["role"], change["note"]) == ("manager-1", "manager", "crew sent")
    assert change["changes"] == {"status": {"old": "open", "new": "in_progress"}}
    assert history["items"][0]["changes"]["title"] == {"old": None, "new": "Burst pipe"}


def test_the_list_filters_and_pages_with_totals(client, auth, projected):
    ids = [open_ticket(client, auth, category=c)["id"] for c in ("water", "water", "water", "roads")]
    client.patch(f"/api/v1/tickets/{ids[0]}/status", json={"status": "closed"}, headers=auth())
    projected()
    page = client.get("/api/v1/tickets", params={"category": "water", "page": 1, "page_size": 2}, headers=auth()).json()
    assert (page["total"], page["page"], page["page_size"], page["page_count"]) == (3, 1, 2, 2)
    second = client.get("/api/v1/tickets", params={"category": "water", "page": 2, "page_size": 2}, headers=auth()).json()
    assert {t["id"] for t in page["items"] + second["items"]} == set(ids[:3])
    closed = client.get("/api/v1/tickets", params={"status": "closed"}, headers=auth()).json()
    assert [t["id"] for t in closed["items"]] == [ids[0]]


def test_a_reporter_lists_only_their_own_tickets(client, auth, projected):
    mine = open_ticket(client, auth)
    client.post("/api/v1/tickets", json=NEW, headers=auth("reporter", "someone-else"))
    projected()
    listed = client.get("/api/v1/tickets", headers=auth("reporter", "citizen-1")).json()
    assert [t["id"] for t in listed["items"]] == [mine["id"]]


def test_another_tenants_ticket_is_not_found(client, auth, projected, tenant):
    ticket = open_ticket(client, auth)
    projected()
    elsewhere = auth("admin", tenant_=tenant + "other")
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=elsewhere).status_code == 404
    assert client.get(f"/api/v1/tickets/{ticket['id']}/history", headers=elsewhere).status_code == 404
    assert client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "closed"}, headers=elsewhere).status_code == 404
    assert client.get("/api/v1/tickets", headers=elsewhere).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "d", "category": "c"}, "title"),
        ({**NEW, "title": 5}, "title"),
        ({**NEW, "title": ""}, "title"),
        ({**NEW, "priority": "whenever"}, "priority"),
        ({**NEW, "location": {"lat": 91, "lon": 0}}, "location.lat"),
        ({**NEW, "colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_store_nothing(client, auth, app, body, field):
    before = app.recorder.max_notification_id()
    response = client.post("/api/v1/tickets", json=body, headers=auth("reporter"))
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["code"] == "invalid_input"
    assert app.recorder.max_notification_id() == before


def test_malformed_json_is_400(client, auth):
    response = client.post("/api/v1/tickets", content=b"{nope", headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "malformed" in response.json()["message"].lower()


@pytest.mark.parametrize(("params", "field"), [({"page": 0}, "page"), ({"page_size": 201}, "page_size"), ({"page": "x"}, "page")])
def test_bad_paging_is_400_naming_the_parameter(client, auth, params, field):
    response = client.get("/api/v1/tickets", params=params, headers=auth())
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_no_token_is_401_and_a_forged_one_too(client):
    assert client.get("/api/v1/tickets").json() == {
        "status_code": 401,
        "code": "unauthorized",
        "message": "No credentials: send 'Authorization: Bearer <token>'.",
    }
    assert client.get("/api/v1/tickets", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


def test_a_refused_transition_is_409_naming_what_is_allowed(client, auth):
    ticket = open_ticket(client, auth)
    response = client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "resolved"}, headers=auth())
    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    assert "allowed from open: in_progress, escalated, closed" in response.json()["message"]


def test_a_stale_version_is_409(client, auth):
    ticket = open_ticket(client, auth)
    client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "in_progress"}, headers=auth())
    response = client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "resolved", "expected_version": 1}, headers=auth())
    assert (response.status_code, response.json()["code"]) == (409, "version_conflict")


def test_a_reporter_changing_status_is_403(client, auth):
    ticket = open_ticket(client, auth)
    response = client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "closed"}, headers=auth("reporter", "citizen-1"))
    assert response.status_code == 403


def test_an_unknown_ticket_is_404_and_a_bad_id_is_not_a_500(client, auth):
    assert client.get(f"/api/v1/tickets/{uuid.uuid4()}", headers=auth()).json()["code"] == "ticket_not_found"
    assert client.get("/api/v1/tickets/not-a-uuid", headers=auth()).status_code in (400, 404)
    assert client.patch(f"/api/v1/tickets/{uuid.uuid4()}/status", json={"status": "closed"}, headers=auth()).status_code == 404


def test_an_unknown_status_is_400_naming_the_field(client, auth):
    ticket = open_ticket(client, auth)
    response = client.patch(f"/api/v1/tickets/{ticket['id']}/status", json={"status": "teleported"}, headers=auth())
    assert (response.status_code, response.json()["field"]) == (400, "status")


def test_health_and_openapi_are_served(client):
    health = client.get("/health").json()
    assert (health["status"], health["database"]) == ("ok", "ok")
    spec = client.get("/schema/openapi.json").json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"openTicket", "listTickets", "getTicket", "changeTicketStatus", "getTicketHistory", "health"} <= operations


def test_reads_go_on_when_the_same_app_is_started_and_stopped_again_elsewhere(client, auth):
    """Each event loop that serves the app has its own pool of reads (schemathesis, for one,
    starts and stops the app it is given): stopping one leaves the others reading."""
    with TestClient(client.app) as other:
        assert other.get("/api/v1/tickets", headers=auth()).status_code == 200
    assert client.get("/api/v1/tickets", headers=auth()).status_code == 200
