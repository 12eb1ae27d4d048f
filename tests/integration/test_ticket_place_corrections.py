"""Staff correct where a misfiled ticket is (its ward, address and location): the edit is recorded old
and new like every other, and the list, the ward councillors' views and the dashboard follow it."""

from __future__ import annotations

import pytest

from tests.integration.http_helpers import TICKETS, detail, history, open_ticket, refused

# What agents do here, not which tickets their reading reaches (see test_agent_scope.py).
pytestmark = pytest.mark.usefixtures("agents_see_all")

DASHBOARD = "/api/v1/dashboard"


def edit(client, headers, ticket_id: str, **changes):
    return client.patch(f"{TICKETS}/{ticket_id}", json=changes, headers=headers)


def ids(client, headers, **params) -> list[str]:
    response = client.get(TICKETS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_staff_correct_a_misfiled_ward_address_and_location_and_the_list_follows(client, auth, projected):
    manager = auth("manager")
    ticket = open_ticket(
        client, auth("reporter", "cit-1"), ward="w1", address="1 Oak Rd", location={"lat": 1.5, "lon": 2.5}, title="Misfiled"
    )
    response = edit(client, auth("agent"), ticket["id"], ward="w2", address="9 Elm St", location={"lat": -33.9, "lon": 18.4})
    assert response.status_code == 200, response.text
    projected()
    assert ids(client, manager, ward="w2") == [ticket["id"]]
    assert ids(client, manager, ward="w1") == []
    row = next(item for item in client.get(TICKETS, headers=manager).json()["items"] if item["id"] == ticket["id"])
    assert (row["ward"], row["address"], row["location"]) == ("w2", "9 Elm St", {"lat": -33.9, "lon": 18.4})
    assert detail(client, manager, ticket["id"])["ward"] == "w2"
    edited = [e for e in history(client, manager, ticket["id"]) if e["event"] == "Edited"]
    assert edited[-1]["changes"] == {
        "ward": {"old": "w1", "new": "w2"},
        "address": {"old": "1 Oak Rd", "new": "9 Elm St"},
        "location": {"old": {"lat": 1.5, "lon": 2.5}, "new": {"lat": -33.9, "lon": 18.4}},
    }
    assert edited[-1]["actor"] == "agent-1"


def test_a_location_can_be_given_to_a_ticket_without_one_and_cleared_again(client, auth, projected):
    manager = auth("manager")
    ticket = open_ticket(client, auth("reporter", "cit-1"))
    assert edit(client, manager, ticket["id"], location={"lat": 10, "lon": 20}).status_code == 200
    projected()
    assert detail(client, manager, ticket["id"])["location"] == {"lat": 10.0, "lon": 20.0}
    assert edit(client, manager, ticket["id"], location=None, ward=None).status_code == 200
    projected()
    cleared = detail(client, manager, ticket["id"])
    assert (cleared["location"], cleared["ward"]) == (None, None)
    assert history(client, manager, ticket["id"])[-1]["changes"] == {
        "location": {"old": {"lat": 10.0, "lon": 20.0}, "new": None},
        "ward": {"old": "w1", "new": None},
    }


def test_a_ward_councillor_sees_the_ticket_in_its_corrected_ward_and_no_longer_in_the_old_one(client, auth, projected):
    ticket = open_ticket(client, auth("reporter", "cit-1"), ward="w1")
    old_ward, new_ward = auth("ward_councillor", ward="w1"), auth("ward_councillor", "councillor-2", ward="w2")
    projected()
    assert ids(client, old_ward) == [ticket["id"]]
    assert edit(client, auth("manager"), ticket["id"], ward="w2").status_code == 200
    projected()
    assert ids(client, old_ward) == []
    assert client.get(f"{TICKETS}/{ticket['id']}", headers=old_ward).status_code == 404
    assert ids(client, new_ward) == [ticket["id"]]
    assert detail(client, new_ward, ticket["id"])["ward"] == "w2"


def test_those_who_may_not_edit_a_ticket_may_not_move_it_to_another_ward(client, auth):
    ticket = open_ticket(client, auth("reporter", "cit-1"), ward="w1")
    refused(edit(client, auth("reporter", "cit-1"), ticket["id"], ward="w2"), 403, "role_not_allowed")
    refused(edit(client, auth("ward_councillor", ward="w1"), ticket["id"], ward="w2"), 403, "role_not_allowed")


def test_a_location_off_the_globe_or_a_ward_too_long_is_400_naming_the_field_and_changes_nothing(client, auth, app):
    ticket = open_ticket(client, auth("reporter", "cit-1"))
    before = app.recorder.max_notification_id()
    refused(edit(client, auth("manager"), ticket["id"], location={"lat": 91, "lon": 0}), 400, "invalid_input", "location.lat")
    refused(edit(client, auth("manager"), ticket["id"], location={"lat": 1}), 400, "invalid_input", "location.lon")
    refused(edit(client, auth("manager"), ticket["id"], ward="w" * 101), 400, "invalid_input", "ward")
    assert app.recorder.max_notification_id() == before


def test_the_dashboard_moves_a_ticket_to_its_corrected_ward(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    first = open_ticket(client, reporter, ward="w1", category="roads")
    open_ticket(client, reporter, ward="w1", category="roads")
    projected()

    def open_in(ward: str) -> int:
        response = client.get(f"{DASHBOARD}/metrics", params={"ward": ward}, headers=manager)
        assert response.status_code == 200, response.text
        return response.json()["total_open"]

    assert (open_in("w1"), open_in("w2")) == (2, 0)
    assert edit(client, manager, first["id"], ward="w2").status_code == 200
    projected()
    assert (open_in("w1"), open_in("w2")) == (1, 1)
    volume = client.get(f"{DASHBOARD}/volume", params={"ward": "w2"}, headers=manager).json()
    assert volume == [{"category": "roads", "open": 1, "resolved": 0}]
    councillor = auth("ward_councillor", ward="w2")
    assert client.get(f"{DASHBOARD}/metrics", headers=councillor).json()["total_open"] == 1
