"""A ticket is found by its tracking number as well as by its id (a citizen on the phone knows the
number, not the UUID), under the same visibility rules."""

from __future__ import annotations

from tests.integration.http_helpers import TICKETS, history, open_ticket, refused


def by_number(client, headers, number: str, suffix: str = ""):
    return client.get(f"{TICKETS}/{number}{suffix}", headers=headers)


def test_staff_find_a_ticket_by_its_tracking_number_as_by_its_id(client, auth, projected):
    manager = auth("manager")
    ticket = open_ticket(client, auth("reporter", "cit-1"), title="Pothole on Main St")
    open_ticket(client, auth("reporter", "cit-1"), title="Another")
    projected()
    found = by_number(client, manager, ticket["tracking_number"])
    assert found.status_code == 200, found.text
    assert found.json() == client.get(f"{TICKETS}/{ticket['id']}", headers=manager).json()
    assert found.json()["title"] == "Pothole on Main St"
    assert by_number(client, manager, ticket["tracking_number"].lower()).json()["id"] == ticket["id"]


def test_a_ticket_history_is_found_by_tracking_number_too(client, auth, projected):
    manager = auth("manager")
    ticket = open_ticket(client, auth("reporter", "cit-1"))
    projected()
    response = by_number(client, manager, ticket["tracking_number"], "/history")
    assert response.status_code == 200, response.text
    assert response.json()["items"] == history(client, manager, ticket["id"])


def test_a_reporter_finds_their_own_ticket_by_number_and_not_anyone_elses(client, auth, projected):
    mine = open_ticket(client, auth("reporter", "cit-1"))
    theirs = open_ticket(client, auth("reporter", "cit-2"))
    projected()
    assert by_number(client, auth("reporter", "cit-1"), mine["tracking_number"]).json()["id"] == mine["id"]
    body = refused(by_number(client, auth("reporter", "cit-1"), theirs["tracking_number"]), 404, "ticket_not_found")
    assert theirs["id"] not in body["message"]  # the number does not reveal the id
    refused(by_number(client, auth("reporter", "cit-1"), theirs["tracking_number"], "/history"), 404, "ticket_not_found")


def test_another_tenants_tracking_number_is_not_found(client, auth, projected, tenant):
    ticket = open_ticket(client, auth("reporter", "cit-1"))
    projected()
    elsewhere = auth("admin", tenant_=tenant + "other")
    open_ticket(client, auth("reporter", "cit-1", tenant_=tenant + "other"), title="Theirs")  # may well draw the same number
    projected()
    found = by_number(client, elsewhere, ticket["tracking_number"])
    assert found.status_code == 404 or found.json()["id"] != ticket["id"]
    assert by_number(client, auth("admin", tenant_=tenant + "third"), ticket["tracking_number"]).status_code == 404


def test_a_sensitive_ticket_found_by_number_is_refused_to_those_who_may_not_see_it(client, auth, projected):
    ticket = open_ticket(client, auth("reporter", "cit-1"), is_sensitive=True, title="Private report")
    projected()
    body = refused(by_number(client, auth("manager"), ticket["tracking_number"]), 403, "restricted_ticket")
    assert "Private report" not in body["message"] and ticket["id"] not in body["message"]
    assert by_number(client, auth("liaison"), ticket["tracking_number"]).json()["id"] == ticket["id"]
    assert by_number(client, auth("reporter", "cit-1"), ticket["tracking_number"]).json()["id"] == ticket["id"]
    refused(by_number(client, auth("ward_councillor", ward="w1"), ticket["tracking_number"]), 403, "restricted_ticket")


def test_an_unknown_tracking_number_is_404_and_an_overlong_reference_is_400(client, auth):
    body = refused(by_number(client, auth("manager"), "TKT-999999"), 404, "ticket_not_found")
    assert "TKT-999999" in body["message"]
    assert by_number(client, auth("manager"), "x" * 65).status_code == 400


def test_the_openapi_document_says_the_detail_takes_an_id_or_a_tracking_number(client):
    spec = client.get("/schema/openapi.json").json()
    path = spec["paths"]["/api/v1/tickets/{ticket_id}"]
    (reference,) = [p for p in path["get"]["parameters"] if p["in"] == "path"]
    assert reference["schema"]["type"] == "string" and "tracking number" in reference["description"]
    (uuid_only,) = [p for p in path["patch"]["parameters"] if p["in"] == "path"]
    assert uuid_only["schema"] == {"type": "string", "format": "uuid"}
