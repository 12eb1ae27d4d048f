"""The ticket list's filters: a filter given several times matches any of its values, and a value
a filter cannot take is a 400 that names the parameter and the values it takes."""

from __future__ import annotations

from tests.integration.http_helpers import TICKETS, move, open_ticket, refused, to_crew

WORKFLOWS = "/api/v1/workflows"


def listed(client, headers, params) -> list[str]:
    response = client.get(TICKETS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(item["title"] for item in response.json()["items"])


def test_a_filter_given_several_times_matches_any_of_its_values(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    a = open_ticket(client, reporter, title="A", priority="high", category="roads", ward="w1", severity="minor")
    b = open_ticket(client, reporter, title="B", priority="low", category="water", ward="w2", severity="major")
    open_ticket(client, reporter, title="C", priority="medium", category="lighting", ward="w3")
    move(client, manager, a["id"], "in_progress")
    move(client, manager, b["id"], "closed")
    projected()
    assert listed(client, manager, [("status", "open"), ("status", "in_progress")]) == ["A", "C"]
    assert listed(client, manager, [("priority", "high"), ("priority", "low")]) == ["A", "B"]
    assert listed(client, manager, [("category", "roads"), ("category", "lighting")]) == ["A", "C"]
    assert listed(client, manager, [("ward", "w2"), ("ward", "w3")]) == ["B", "C"]
    assert listed(client, manager, [("severity", "minor"), ("severity", "major")]) == ["A", "B"]
    assert listed(client, manager, [("sla_status", "on_track"), ("sla_status", "met")]) == []  # no policy, no SLA status
    # Different filters still all apply.
    assert listed(client, manager, [("ward", "w1"), ("ward", "w2"), ("priority", "low")]) == ["B"]
    assert listed(client, manager, [("ward", "w1")]) == ["A"]


def test_the_status_category_filter_takes_the_tickets_in_any_category_named(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    open_ticket(client, reporter, title="Untouched")
    working = open_ticket(client, reporter, title="Working")
    done = open_ticket(client, reporter, title="Done")
    gone = open_ticket(client, reporter, title="Gone")
    move(client, manager, working["id"], "in_progress")
    move(client, manager, done["id"], "in_progress")
    move(client, manager, done["id"], "resolved")
    move(client, manager, gone["id"], "closed")
    projected()
    assert listed(client, manager, {"status_category": "open"}) == ["Untouched", "Working"]
    assert listed(client, manager, [("status_category", "resolved"), ("status_category", "closed")]) == ["Done", "Gone"]
    assert listed(client, manager, {"status_category": "pending"}) == []


def test_assignee_and_team_filters_match_any_of_their_values(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    first = open_ticket(client, reporter, title="First")
    second = open_ticket(client, reporter, title="Second")
    open_ticket(client, reporter, title="Third")
    for ticket, who in ((first, "agent-a"), (second, "agent-b")):
        to_crew(client, auth("admin"), ticket["id"], who)
        response = client.post(f"{TICKETS}/{ticket['id']}/transfer", json={"assignee_id": who}, headers=manager)
        assert response.status_code == 200, response.text
    projected()
    assert listed(client, manager, [("assignee_id", "agent-a"), ("assignee_id", "agent-b")]) == ["First", "Second"]
    assert listed(client, manager, [("assignee_id", "agent-b"), ("assignee_id", "nobody")]) == ["Second"]
    assert listed(client, manager, [("assigned_team_id", "no-such-team")]) == []


def test_an_unknown_value_of_a_closed_filter_is_400_naming_the_parameter_and_the_values_it_takes(client, auth):
    manager = auth("manager")
    for params, field, accepted in (
        ({"priority": "whenever"}, "priority", "low, medium, high, urgent"),
        ([("priority", "high"), ("priority", "bogus")], "priority", "low, medium, high, urgent"),
        ({"severity": "meh"}, "severity", "minor, moderate, major, critical"),
        ({"sla_status": "late"}, "sla_status", "on_track, warning, breached_response, breached_resolution, paused, met"),
        ({"status_category": "done"}, "status_category", "open, pending, resolved, closed"),
        ({"sort_by": "colour"}, "sort_by", "created_at, updated_at, priority, severity, status, category, sla_deadline"),
        ({"order": "up"}, "order", "asc, desc"),
    ):
        body = refused(client.get(TICKETS, params=params, headers=manager), 400, f"unknown_{field}", field)
        assert accepted in body["message"], body


def test_an_unknown_status_is_400_listing_the_statuses_of_the_tenants_workflows(client, auth):
    body = refused(client.get(TICKETS, params={"status": "bogus"}, headers=auth("manager")), 400, "unknown_status", "status")
    for status in ("open", "in_progress", "assigned", "completed", "on_hold", "waiting_for_response"):
        assert status in body["message"], body
    # Any built-in workflow's status is accepted, whichever workflow the tenant uses.
    assert client.get(TICKETS, params=[("status", "on_hold"), ("status", "cancelled")], headers=auth("manager")).status_code == 200


def test_a_status_of_a_workflow_the_tenant_defined_is_accepted_there_and_nowhere_else(client, auth, projected, tenant):
    # Asked before the workflow is defined: unknown (and the statuses known then are remembered).
    refused(client.get(TICKETS, params={"status": "awaiting_parts"}, headers=auth("manager")), 400, "unknown_status", "status")
    definition = {
        "initial": "new",
        "states": {"new": "open", "awaiting_parts": "pending", "fixed": "resolved"},
        "transitions": [{"from": "new", "to": "awaiting_parts"}, {"from": "awaiting_parts", "to": "fixed"}],
    }
    response = client.put(f"{WORKFLOWS}/repairs", json=definition, headers=auth("admin"))
    assert response.status_code in (200, 201), response.text
    ticket = open_ticket(client, auth("reporter", "cit-1"), title="Broken pump", workflow="repairs")
    move(client, auth("manager"), ticket["id"], "awaiting_parts")
    projected()
    assert listed(client, auth("manager"), [("status", "awaiting_parts"), ("status", "open")]) == ["Broken pump"]
    elsewhere = auth("manager", tenant_=tenant + "other")
    refused(client.get(TICKETS, params={"status": "awaiting_parts"}, headers=elsewhere), 400, "unknown_status", "status")


def test_too_many_values_of_one_filter_are_refused_at_the_edge(client, auth):
    response = client.get(TICKETS, params=[("ward", f"w{i}") for i in range(101)], headers=auth("manager"))
    assert (response.status_code, response.json()["field"]) == (400, "ward")


def test_the_openapi_document_types_every_list_filter_as_a_list_and_names_the_closed_values(client):
    spec = client.get("/schema/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/tickets"]["get"]["parameters"]}
    for name in ("status", "status_category", "category", "priority", "severity", "ward", "assigned_team_id", "assignee_id", "sla_status"):
        arrays = [s for s in parameters[name]["schema"]["oneOf"] if s.get("type") == "array"]
        assert arrays and arrays[0]["items"]["type"] == "string", (name, parameters[name])
    priority = next(s for s in parameters["priority"]["schema"]["oneOf"] if s.get("type") == "array")
    assert priority["items"]["enum"] == ["low", "medium", "high", "urgent"]
    status_category = next(s for s in parameters["status_category"]["schema"]["oneOf"] if s.get("type") == "array")
    assert status_category["items"]["enum"] == ["open", "pending", "resolved", "closed"]
    assert parameters["order"]["schema"]["enum"] == ["asc", "desc"]


def test_a_lists_total_is_counted_again_once_the_read_model_has_moved_and_is_each_readers_own(client, auth, projected):
    """A list's total is remembered for the position of the tickets projection it was counted at
    (projections/totals.py): a change to the tickets moves the position, and the total with it;
    two readers of the same list each get their own."""
    reporter, other, manager = auth("reporter", "cit-1"), auth("reporter", "cit-2"), auth("manager")
    open_ticket(client, reporter, title="First", ward="w9")
    projected()

    def total(headers, params=None) -> int:
        response = client.get(TICKETS, params={"page_size": 1, **(params or {})}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["total"]

    before = total(manager)
    assert total(manager) == before  # counted, then remembered
    in_ward = total(manager, {"ward": "w9"})
    moved = open_ticket(client, other, title="Second", ward="w9")
    projected()
    assert total(manager) == before + 1
    assert total(manager, {"ward": "w9"}) == in_ward + 1
    move(client, manager, moved["id"], "closed")
    projected()
    assert total(manager, {"status": "closed", "ward": "w9"}) == 1
    assert (total(reporter), total(other)) == (1, 1)  # a reporter's own, not the other's remembered total
