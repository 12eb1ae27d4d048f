"""Workflows as data, through HTTP: each built-in workflow from opening to closing with the
refusals its rules name, and a workflow a tenant defines, validates and versions itself."""

from __future__ import annotations

import copy

import pytest

from tests.integration.http_helpers import TICKETS, detail, history, move, open_ticket, refused, statuses, to_crew

# What agents do here, not which tickets their reading reaches (see test_agent_scope.py).
pytestmark = pytest.mark.usefixtures("agents_see_all")

WORKFLOWS = "/api/v1/workflows"

PERMIT = {
    "initial": "submitted",
    "states": {"submitted": "open", "under_review": "open", "approved": "resolved", "rejected": "closed", "closed": "closed"},
    "transitions": [
        {"from": "submitted", "to": "under_review", "roles": ["agent", "manager", "admin"]},
        {"from": "under_review", "to": "approved", "roles": ["admin"], "requires": ["approval_ref"]},
        {"from": "under_review", "to": "rejected", "roles": ["manager", "admin"]},
        {"from": "approved", "to": "closed"},
    ],
}


def status_change(client, headers, ticket_id, status, **body):
    return client.patch(f"{TICKETS}/{ticket_id}/status", json={"status": status, **body}, headers=headers)


def define(client, headers, name, definition):
    return client.put(f"{WORKFLOWS}/{name}", json=definition, headers=headers)


def test_the_three_built_in_workflows_are_listed_with_municipal_the_default(client, auth):
    listed = client.get(WORKFLOWS, headers=auth("reporter")).json()
    by_name = {w["name"]: w for w in listed}
    assert set(by_name) == {"municipal", "field_service", "helpdesk"}
    assert [w["name"] for w in listed if w["is_default"]] == ["municipal"]
    assert all(w["built_in"] and w["version"] == 1 for w in listed)
    assert by_name["field_service"]["definition"]["initial"] == "created"
    edges = {(t["from"], t["to"]) for t in by_name["helpdesk"]["definition"]["transitions"]}
    assert ("waiting_for_response", "in_progress") in edges and ("resolved", "in_progress") not in edges
    assert by_name["helpdesk"]["definition"]["reporter_reply"] == {"waiting_for_response": "in_progress"}


def test_a_municipal_ticket_goes_from_open_to_closed_and_back_with_timestamps_derived_from_its_events(client, auth, projected):
    citizen, agent, manager = auth("reporter", "citizen-1"), auth("agent", "agent-7"), auth("manager")
    ticket = open_ticket(client, citizen)
    tid = ticket["id"]
    assert ticket["status"] == "open"

    body = refused(status_change(client, manager, tid, "resolved"), 409, "transition_not_allowed")
    assert "allowed from open: in_progress, escalated, closed" in body["message"]
    refused(status_change(client, citizen, tid, "in_progress"), 403, "role_not_allowed")
    projected()
    fresh = detail(client, manager, tid)
    assert (fresh["workflow"], fresh["workflow_version"], fresh["status_category"]) == ("municipal", 1, "open")
    assert (fresh["first_responded_at"], fresh["resolved_at"], fresh["closed_at"], fresh["reopen_count"]) == (None, None, None, 0)

    move(client, agent, tid, "in_progress", note="crew on the way")
    move(client, manager, tid, "escalated")
    move(client, manager, tid, "in_progress")
    move(client, agent, tid, "resolved")
    body = refused(status_change(client, agent, tid, "escalated"), 409, "transition_not_allowed")
    assert "allowed from resolved: closed, in_progress" in body["message"]
    projected()
    resolved = detail(client, manager, tid)
    entries = history(client, manager, tid)
    assert resolved["status_category"] == "resolved"
    assert resolved["first_responded_at"] == entries[1]["at"]  # the first staff transition
    assert resolved["resolved_at"] == entries[-1]["at"] and resolved["closed_at"] is None

    move(client, manager, tid, "closed")
    refused(status_change(client, manager, tid, "in_progress"), 409, "transition_not_allowed")
    projected()
    closed = detail(client, manager, tid)
    assert closed["closed_at"] == history(client, manager, tid)[-1]["at"]
    assert closed["resolved_at"] == resolved["resolved_at"] and closed["reopen_count"] == 0

    move(client, manager, tid, "open", note="it went dark again")
    projected()
    reopened = detail(client, citizen, tid)
    assert (reopened["status"], reopened["reopen_count"], reopened["resolved_at"], reopened["closed_at"]) == ("open", 1, None, None)
    assert reopened["first_responded_at"] == resolved["first_responded_at"]
    entries = history(client, citizen, tid)
    assert statuses(entries) == [
        ("open", "in_progress"), ("in_progress", "escalated"), ("escalated", "in_progress"),
        ("in_progress", "resolved"), ("resolved", "closed"), ("closed", "open"),
    ]  # fmt: skip
    assert (entries[1]["actor"], entries[1]["role"], entries[1]["note"]) == ("agent-7", "agent", None)  # a note for staff
    assert history(client, manager, tid)[1]["note"] == "crew on the way"


def test_a_field_service_job_is_assigned_worked_and_completed_by_its_technician_and_closed_by_an_admin(client, auth, projected):
    subscriber, manager, admin = auth("reporter", "sub-1"), auth("manager"), auth("admin")
    technician, other_tech = auth("agent", "tech-1"), auth("agent", "tech-2")
    tid = open_ticket(client, subscriber, workflow="field_service", title="No internet")["id"]
    projected()
    assert detail(client, subscriber, tid)["status"] == "created"

    refused(status_change(client, subscriber, tid, "assigned", assignee_id="sub-1"), 403, "role_not_allowed")
    refused(status_change(client, technician, tid, "assigned", assignee_id="tech-1"), 409, "role_not_allowed_for_transition")
    refused(status_change(client, manager, tid, "assigned"), 400, "missing_field", "assignee_id")
    refused(status_change(client, manager, tid, "in_progress"), 409, "transition_not_allowed")
    refused(status_change(client, manager, tid, "assigned", assignee_id="tech-1"), 409, "no_team", "assignee_id")
    to_crew(client, admin, tid, "tech-1", "tech-2")
    refused(status_change(client, manager, tid, "assigned", assignee_id="sub-1"), 409, "not_a_member", "assignee_id")
    move(client, manager, tid, "assigned", assignee_id="tech-1")
    projected()
    assert detail(client, manager, tid)["assignee_id"] == "tech-1"

    refused(status_change(client, manager, tid, "cancelled"), 409, "role_not_allowed_for_transition")
    refused(status_change(client, other_tech, tid, "in_progress"), 409, "not_the_assignee")
    refused(status_change(client, admin, tid, "in_progress"), 409, "not_the_assignee")
    refused(status_change(client, subscriber, tid, "in_progress"), 403, "role_not_allowed")
    move(client, technician, tid, "in_progress")

    refused(status_change(client, other_tech, tid, "completed", completion_notes="done"), 409, "not_the_assignee")
    refused(status_change(client, technician, tid, "completed"), 400, "missing_field", "completion_notes")
    refused(status_change(client, technician, tid, "completed", completion_notes="   "), 400, "missing_field", "completion_notes")
    move(client, technician, tid, "completed", completion_notes="Replaced the router")

    refused(status_change(client, technician, tid, "closed"), 409, "role_not_allowed_for_transition")
    refused(status_change(client, manager, tid, "closed"), 409, "role_not_allowed_for_transition")
    refused(status_change(client, subscriber, tid, "closed"), 403, "role_not_allowed")
    move(client, admin, tid, "closed")
    body = refused(status_change(client, admin, tid, "created"), 409, "transition_not_allowed")
    assert "allowed from closed: none" in body["message"]

    projected()
    done = detail(client, subscriber, tid)
    entries = history(client, subscriber, tid)
    assert (done["status"], done["status_category"], done["assignee_id"]) == ("closed", "closed", "tech-1")
    assert statuses(entries) == [
        ("created", "assigned"),
        ("assigned", "in_progress"),
        ("in_progress", "completed"),
        ("completed", "closed"),
    ]
    changes = [e for e in entries if e["event"] == "StatusChanged"]
    assert changes[0]["changes"]["assignee_id"] == {"old": None, "new": "tech-1"}
    assert changes[2]["changes"]["completion_notes"] == {"old": None, "new": "Replaced the router"}
    assert [(e["actor"], e["role"]) for e in changes] == [
        ("manager-1", "manager"),
        ("tech-1", "agent"),
        ("tech-1", "agent"),
        ("admin-1", "admin"),
    ]
    assert done["resolved_at"] == changes[2]["at"] and done["closed_at"] == changes[3]["at"]
    assert done["first_responded_at"] == changes[0]["at"]


def test_only_an_admin_cancels_a_field_service_job_before_work_starts(client, auth, projected):
    admin, manager, technician = auth("admin"), auth("manager"), auth("agent", "tech-1")
    created = open_ticket(client, admin, workflow="field_service")["id"]
    assigned = open_ticket(client, admin, workflow="field_service")["id"]
    started = open_ticket(client, admin, workflow="field_service")["id"]
    for tid in (assigned, started):
        to_crew(client, admin, tid, "tech-1")
        move(client, manager, tid, "assigned", assignee_id="tech-1")
    move(client, technician, started, "in_progress")

    refused(status_change(client, manager, created, "cancelled"), 409, "role_not_allowed_for_transition")
    refused(status_change(client, technician, assigned, "cancelled"), 409, "role_not_allowed_for_transition")
    body = refused(status_change(client, technician, started, "cancelled"), 409, "transition_not_allowed")
    assert "allowed from in_progress: completed." in body["message"]
    body = refused(status_change(client, admin, started, "cancelled"), 409, "transition_not_allowed")
    assert "allowed from in_progress: none." in body["message"]  # the admin is not the assignee
    move(client, admin, created, "cancelled")
    move(client, admin, assigned, "cancelled")
    projected()
    for tid in (created, assigned):
        cancelled = detail(client, admin, tid)
        assert (cancelled["status"], cancelled["status_category"]) == ("cancelled", "closed")
        assert cancelled["closed_at"] == history(client, admin, tid)[-1]["at"]
    assert detail(client, admin, started)["status"] == "in_progress"


def test_a_helpdesk_ticket_goes_through_answers_holds_and_waiting_to_closed_and_reopens(client, auth, projected):
    customer, agent = auth("reporter", "cust-1"), auth("agent", "agent-3")
    tid = open_ticket(client, customer, workflow="helpdesk", title="Cannot log in")["id"]
    projected()
    assert detail(client, customer, tid)["status"] == "open"

    refused(status_change(client, agent, tid, "waiting_for_response"), 409, "transition_not_allowed")
    refused(status_change(client, customer, tid, "closed"), 403, "role_not_allowed")
    move(client, agent, tid, "answered")
    move(client, agent, tid, "waiting_for_response")
    body = refused(status_change(client, agent, tid, "on_hold"), 409, "transition_not_allowed")
    assert "allowed from waiting_for_response: answered, in_progress, closed" in body["message"]
    move(client, agent, tid, "answered")
    move(client, agent, tid, "on_hold")
    projected()
    assert detail(client, agent, tid)["status_category"] == "pending"
    move(client, agent, tid, "in_progress")
    move(client, agent, tid, "resolved")
    body = refused(status_change(client, agent, tid, "in_progress"), 409, "transition_not_allowed")
    assert "allowed from resolved: closed." in body["message"]
    move(client, agent, tid, "closed")
    move(client, agent, tid, "open")
    move(client, agent, tid, "closed")
    projected()
    done = detail(client, customer, tid)
    assert (done["status"], done["reopen_count"], done["resolved_at"]) == ("closed", 1, None)
    assert done["closed_at"] == history(client, customer, tid)[-1]["at"]
    assert statuses(history(client, customer, tid)) == [
        ("open", "answered"), ("answered", "waiting_for_response"), ("waiting_for_response", "answered"),
        ("answered", "on_hold"), ("on_hold", "in_progress"), ("in_progress", "resolved"), ("resolved", "closed"),
        ("closed", "open"), ("open", "closed"),
    ]  # fmt: skip


def test_a_tenant_defined_workflow_is_walked_from_opening_to_closing_with_its_own_rules(client, auth, projected):
    admin, manager, agent = auth("admin"), auth("manager"), auth("agent")
    saved = define(client, admin, "permit", PERMIT)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["name"], saved.json()["version"]) == ("permit", 1)
    projected()
    listed = {w["name"]: w for w in client.get(WORKFLOWS, headers=agent).json()}
    assert (listed["permit"]["version"], listed["permit"]["built_in"], listed["permit"]["defined_by"]) == (1, False, "admin-1")
    assert listed["permit"]["definition"]["initial"] == "submitted"
    assert client.get(f"{WORKFLOWS}/permit", headers=agent).json()["version"] == 1

    tid = open_ticket(client, auth("reporter", "applicant"), workflow="permit", title="Fence permit")["id"]
    projected()
    opened = detail(client, agent, tid)
    assert (opened["workflow"], opened["workflow_version"], opened["status"]) == ("permit", 1, "submitted")
    refused(status_change(client, agent, tid, "approved"), 409, "transition_not_allowed")
    move(client, agent, tid, "under_review")
    refused(status_change(client, manager, tid, "approved", fields={"approval_ref": "P-17"}), 409, "role_not_allowed_for_transition")
    refused(status_change(client, admin, tid, "approved"), 400, "missing_field", "approval_ref")
    refused(status_change(client, admin, tid, "nowhere"), 400, "unknown_status", "status")
    move(client, admin, tid, "approved", fields={"approval_ref": "P-17"})
    move(client, agent, tid, "closed")
    projected()
    done = detail(client, agent, tid)
    entries = history(client, agent, tid)
    assert (done["status"], done["status_category"]) == ("closed", "closed")
    assert done["resolved_at"] == entries[2]["at"] and done["closed_at"] == entries[3]["at"]
    assert statuses(entries) == [("submitted", "under_review"), ("under_review", "approved"), ("approved", "closed")]
    assert entries[2]["changes"]["approval_ref"] == {"old": None, "new": "P-17"}


def test_a_new_workflow_version_governs_new_tickets_while_open_ones_keep_the_version_they_were_opened_under(client, auth, projected):
    admin, agent = auth("admin"), auth("agent")
    assert define(client, admin, "permit", PERMIT).json()["version"] == 1
    before = open_ticket(client, agent, workflow="permit")["id"]
    second = copy.deepcopy(PERMIT)
    second["transitions"].append({"from": "submitted", "to": "rejected", "roles": ["agent"]})
    saved = define(client, admin, "permit", second).json()
    assert saved["version"] == 2 and saved["notification_id"] is not None
    again = define(client, admin, "permit", second).json()
    assert (again["version"], again["notification_id"]) == (2, None)  # the same definition is no new version
    after = open_ticket(client, agent, workflow="permit")["id"]

    body = refused(status_change(client, agent, before, "rejected"), 409, "transition_not_allowed")
    assert "allowed from submitted: under_review" in body["message"]
    move(client, agent, after, "rejected")
    projected()
    assert detail(client, agent, before)["workflow_version"] == 1
    assert (detail(client, agent, after)["workflow_version"], detail(client, agent, after)["status"]) == (2, "rejected")
    assert client.get(f"{WORKFLOWS}/permit", headers=agent).json()["version"] == 2


def test_a_tenant_default_workflow_applies_when_a_ticket_names_none(client, auth, projected):
    admin, reporter = auth("admin"), auth("reporter")
    assert open_ticket(client, reporter)["status"] == "open"  # no settings: municipal
    refused(
        client.put("/api/v1/tenant-settings", json={"default_workflow": "field_service"}, headers=auth("manager")), 403, "role_not_allowed"
    )
    refused(client.put("/api/v1/tenant-settings", json={"default_workflow": "nope"}, headers=admin), 400, "unknown_workflow", "workflow")
    changed = client.put("/api/v1/tenant-settings", json={"default_workflow": "field_service"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["default_workflow"] == "field_service"
    defaulted = open_ticket(client, reporter)
    named = open_ticket(client, reporter, workflow="helpdesk")
    assert (defaulted["status"], named["status"]) == ("created", "open")
    refused(
        client.post(TICKETS, json={"title": "t", "description": "d", "category": "c", "workflow": "nope"}, headers=reporter),
        400,
        "unknown_workflow",
        "workflow",
    )
    projected()
    assert client.get("/api/v1/tenant-settings", headers=reporter).json()["default_workflow"] == "field_service"
    assert [w["name"] for w in client.get(WORKFLOWS, headers=reporter).json() if w["is_default"]] == ["field_service"]
    assert (detail(client, admin, defaulted["id"])["workflow"], detail(client, admin, named["id"])["workflow"]) == (
        "field_service",
        "helpdesk",
    )


def test_a_tenants_workflows_and_settings_stay_in_that_tenant(client, auth, projected, tenant):
    admin = auth("admin")
    assert define(client, admin, "permit", PERMIT).status_code == 200
    assert client.put("/api/v1/tenant-settings", json={"default_workflow": "permit"}, headers=admin).status_code == 200
    projected()
    elsewhere = auth("admin", tenant_=tenant + "x")
    assert "permit" not in {w["name"] for w in client.get(WORKFLOWS, headers=elsewhere).json()}
    refused(client.get(f"{WORKFLOWS}/permit", headers=elsewhere), 404, "workflow_not_found")
    assert client.get("/api/v1/tenant-settings", headers=elsewhere).json()["default_workflow"] == "municipal"
    refused(
        client.post(TICKETS, json={"title": "t", "description": "d", "category": "c", "workflow": "permit"}, headers=elsewhere),
        400,
        "unknown_workflow",
    )
    assert open_ticket(client, elsewhere)["status"] == "open"


def without(definition, key):
    return {k: v for k, v in definition.items() if k != key}


def with_transitions(*extra):
    return {**PERMIT, "transitions": PERMIT["transitions"] + list(extra)}


@pytest.mark.parametrize(
    ("definition", "field", "named"),
    [
        (without(PERMIT, "initial"), "initial", "initial"),
        ({**PERMIT, "initial": "drafted"}, "initial", "drafted"),
        ({**PERMIT, "states": {**PERMIT["states"], "limbo": "open"}}, "states", "limbo"),
        ({**PERMIT, "states": {**PERMIT["states"], "odd": "weird"}}, None, "weird"),
        ({**PERMIT, "states": {}}, None, "states"),
        (with_transitions({"from": "approved", "to": "archived"}), "transitions[4].to", "archived"),
        (with_transitions({"from": "ghost", "to": "closed"}), "transitions[4].from", "ghost"),
        (with_transitions({"from": "approved", "to": "closed", "roles": ["boss"]}), None, "boss"),
        ({**PERMIT, "reporter_reply": {"rejected": "reopened"}}, "reporter_reply", "reopened"),
        ({**PERMIT, "colour": "blue"}, "colour", "colour"),
    ],
    ids=[
        "no-initial",
        "initial-not-a-state",
        "unreachable-state",
        "unknown-category",
        "no-states",
        "transition-to-nowhere",
        "transition-from-nowhere",
        "unknown-role",
        "reply-to-nowhere",
        "unknown-key",
    ],  # fmt: skip
)
def test_an_invalid_workflow_is_400_naming_the_problem_and_stores_nothing(client, auth, app, definition, field, named):
    before = app.recorder.max_notification_id()
    response = define(client, auth("admin"), "permit", definition)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] in ("invalid_workflow", "invalid_input")
    assert named in body["message"]
    if field is not None:
        assert body["field"] == field
    assert app.recorder.max_notification_id() == before


def test_only_an_admin_defines_a_workflow_and_its_name_must_be_a_plain_word(client, auth, app, projected):
    before = app.recorder.max_notification_id()
    for role in ("manager", "agent", "reporter", "auditor"):
        refused(define(client, auth(role), "permit", PERMIT), 403, "role_not_allowed")
    refused(define(client, auth("admin"), "Bad-Name", PERMIT), 400, "invalid_workflow", "name")
    assert app.recorder.max_notification_id() == before
    projected()
    assert "permit" not in {w["name"] for w in client.get(WORKFLOWS, headers=auth("admin")).json()}


def test_a_reporter_reply_rule_that_is_no_transition_of_the_workflow_is_refused(client, auth, app):
    """reporter_reply moves a ticket without asking the transition table, so a rule naming a move
    the workflow does not have (here: out of the closed state `rejected`) would let a reporter's
    reply take a path no one may take. Open domain bug: workflow_from_definition checks only that
    both ends are states."""
    before = app.recorder.max_notification_id()
    response = define(client, auth("admin"), "permit", {**PERMIT, "reporter_reply": {"rejected": "submitted"}})
    assert response.status_code == 400, f"a reporter_reply along no transition was accepted: {response.text}"
    assert (response.json()["field"], "rejected" in response.json()["message"]) == ("reporter_reply", True)
    assert app.recorder.max_notification_id() == before


def test_a_transition_that_no_role_may_ever_take_is_refused(client, auth, app):
    """Only staff change status, so a transition open only to reporters, councillors or auditors
    can never be taken and the states behind it are unreachable in practice. Open domain bug:
    the definition is accepted."""
    transitions = [{**PERMIT["transitions"][0], "roles": ["reporter"]}, *PERMIT["transitions"][1:]]
    before = app.recorder.max_notification_id()
    response = define(client, auth("admin"), "permit", {**PERMIT, "transitions": transitions})
    assert response.status_code == 400, f"a transition only a reporter may take was accepted: {response.text}"
    assert (response.json()["field"], "reporter" in response.json()["message"]) == ("transitions[0].roles", True)
    assert app.recorder.max_notification_id() == before
