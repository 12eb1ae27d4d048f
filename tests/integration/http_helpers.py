"""Small HTTP steps shared by the integration tests of the ticket record, its conversation,
its attachments and its workflows. Each asserts the status it expects and shows the body when not."""

from __future__ import annotations

from typing import Any

TICKETS = "/api/v1/tickets"
BASIC = {"title": "Streetlight out", "description": "Dark corner on Oak Rd", "category": "lighting", "ward": "w1"}


def open_ticket(client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post(TICKETS, json={**BASIC, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def move(client, headers: dict[str, str], ticket_id: str, status: str, **body: Any) -> dict[str, Any]:
    response = client.patch(f"{TICKETS}/{ticket_id}/status", json={"status": status, **body}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    return response.json()


def refused(response, status_code: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The refusal is the JSON error the API promises: status, machine-readable code, a sentence, and the field."""
    assert response.status_code == status_code, response.text
    body = response.json()
    assert body["status_code"] == status_code
    assert body["code"] == code, body
    assert body["message"].strip(), body
    if field is not None:
        assert body.get("field") == field, body
    return body


def detail(client, headers: dict[str, str], ticket_id: str) -> dict[str, Any]:
    response = client.get(f"{TICKETS}/{ticket_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def history(client, headers: dict[str, str], ticket_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{TICKETS}/{ticket_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def statuses(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (old, new) status of every status change in a history, in order."""
    return [(e["changes"]["status"]["old"], e["changes"]["status"]["new"]) for e in entries if e["event"] == "StatusChanged"]


TEAMS = "/api/v1/teams"
ROUTING_RULES = "/api/v1/routing-rules"


def new_team(client, headers: dict[str, str], name: str, members: tuple[tuple[str, ...], ...] = (), **fields: Any) -> str:
    """Creates a team and adds its members, each (user_id, display_name[, role]), in this order; returns its id."""
    response = client.post(TEAMS, json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    team_id = response.json()["id"]
    for user_id, display_name, *role in members:
        body = {"display_name": display_name, "role": role[0] if role else "agent"}
        added = client.put(f"{TEAMS}/{team_id}/members/{user_id}", json=body, headers=headers)
        assert added.status_code == 200, added.text
    return team_id


def set_rules(client, headers: dict[str, str], rules: list[dict[str, Any]], fallback_team_id: str | None = None) -> dict[str, Any]:
    response = client.put(ROUTING_RULES, json={"rules": rules, "fallback_team_id": fallback_team_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def to_crew(client, admin: dict[str, str], ticket_id: str, *technicians: str) -> str:
    """Gives the ticket to a new team of these technicians, to its queue (no one picked): a move
    that names an assignee (field service's `assigned`) names a member of the ticket's team."""
    crew = new_team(client, admin, f"Crew {ticket_id[:8]}", members=tuple((t, t.title()) for t in technicians), strategy="none")
    response = client.post(f"{TICKETS}/{ticket_id}/assign", json={"team_id": crew}, headers=admin)
    assert response.status_code == 200, response.text
    return crew
