"""Opening a ticket under every combination of a tenant's settings: routing on opening on or off,
SLA policies that match, that do not, or none, ordinary or sensitive, each built-in workflow and a
tenant's own. No combination refuses a valid ticket, and each does what its settings say."""

from __future__ import annotations

import itertools

import pytest

from commands.loading import load_ticket
from commands.sla import set_sla_policies
from commands.structs import AddMember, ChangeTenantSettings, CreateTeam, DefineWorkflow, OpenTicket, SetRoutingRules, SetSLAPolicies
from commands.teams import add_member, create_team, set_routing_rules
from commands.tenants import change_tenant_settings, define_workflow
from commands.tickets import open_ticket
from tests.integration.http_helpers import TICKETS, detail, new_team, set_rules
from tests.integration.http_helpers import open_ticket as open_over_http

# A tenant's own workflow where a routed ticket, as in field service, enters a state of being with someone.
REPAIR = {
    "initial": "reported",
    "states": {"reported": "open", "assigned": "open", "fixed": "resolved", "closed": "closed"},
    "transitions": [
        {"from": "reported", "to": "assigned", "roles": ["manager", "admin"], "requires": ["assignee_id"]},
        {"from": "assigned", "to": "fixed", "roles": ["agent", "liaison"], "assignee_only": True},
        {"from": "fixed", "to": "closed"},
    ],
}
WORKFLOWS = {"municipal": "open", "field_service": "created", "helpdesk": "open", "repair": "reported"}
WITH_A_STATE_FOR_BEING_ASSIGNED = {"field_service", "repair"}
POLICIES = {
    "none": [],
    "matching": [{"id": "lighting-sla", "category": "lighting", "response_hours": 4, "resolution_hours": 72}],
    "not_matching": [{"id": "water-sla", "category": "water", "response_hours": 1}],
}


def set_up_tenant(app, actor, auto_route: bool, policies: str) -> dict[str, str]:
    """Two teams: an ordinary crew the rule for lighting names, and a restricted desk that takes the rest."""
    admin = actor("admin")
    crew = create_team(app, CreateTeam(actor=admin, name="Crew", strategy="round_robin")).id
    add_member(app, AddMember(actor=admin, team_id=crew, user_id="tech-a", display_name="Ann Tech"))
    desk = create_team(app, CreateTeam(actor=admin, name="Desk", is_restricted=True, strategy="round_robin")).id
    add_member(app, AddMember(actor=admin, team_id=desk, user_id="liaison-a", display_name="Lee Liaison", role="liaison"))
    rules = [{"name": "lighting", "team_id": str(crew), "category": ["lighting"]}]
    set_routing_rules(app, SetRoutingRules(actor=admin, rules=rules, fallback_team_id=str(desk)))
    define_workflow(app, DefineWorkflow(actor=admin, name="repair", definition=REPAIR))
    set_sla_policies(app, SetSLAPolicies(actor=admin, policies=POLICIES[policies]))
    change_tenant_settings(app, ChangeTenantSettings(actor=admin, auto_route_on_open=auto_route))
    return {"crew": str(crew), "desk": str(desk)}


@pytest.mark.parametrize(
    ("auto_route", "policies", "sensitive", "workflow"),
    list(itertools.product([True, False], list(POLICIES), [False, True], list(WORKFLOWS))),
    ids=lambda v: str(v),
)
def test_no_combination_of_tenant_settings_refuses_a_valid_ticket(app, actor, auto_route, policies, sensitive, workflow):
    teams = set_up_tenant(app, actor, auto_route, policies)
    command = OpenTicket(
        actor=actor("reporter", "citizen-1"),
        title="Streetlight out",
        description="Dark corner on Oak Rd",
        category="lighting",
        workflow=workflow,
        is_sensitive=sensitive,
    )
    opened = open_ticket(app, command)
    ticket = load_ticket(app.repository, opened.id)
    assert ticket.workflow.name == workflow
    if auto_route:
        team, member = (teams["desk"], "liaison-a") if sensitive else (teams["crew"], "tech-a")
        assert (ticket.team_id, ticket.assignee_id) == (team, member)
        assigned = workflow in WITH_A_STATE_FOR_BEING_ASSIGNED
        assert ticket.status == opened.status == ("assigned" if assigned else WORKFLOWS[workflow])
    else:
        assert (ticket.team_id, ticket.assignee_id, ticket.status) == (None, None, WORKFLOWS[workflow])
    if policies == "matching":
        assert ticket.sla_policy["id"] == "lighting-sla"
        assert set(ticket.sla_deadlines) == {"response", "resolution"}
    else:
        assert ticket.sla_policy is None and not ticket.sla_deadlines


def test_a_ticket_opened_over_http_with_routing_on_opening_and_a_matching_sla_policy_is_routed_with_its_deadlines(client, auth, projected):
    admin = auth("admin")
    crew = new_team(client, admin, "Crew", members=(("tech-a", "Ann Tech"),), strategy="round_robin")
    set_rules(client, admin, [{"name": "lighting", "team_id": crew, "category": ["lighting"]}])
    policies = {"policies": POLICIES["matching"]}
    assert client.put("/api/v1/sla-policies", json=policies, headers=admin).status_code == 200
    assert client.put("/api/v1/tenant-settings", json={"auto_route_on_open": True}, headers=admin).status_code == 200
    opened = open_over_http(client, auth("reporter", "citizen-1"))
    projected()
    record = detail(client, auth("manager"), opened["id"])
    assert (record["team_id"], record["assignee_id"], record["sla_policy_id"]) == (crew, "tech-a", "lighting-sla")
    assert record["response_due"] and record["resolution_due"]
    assert client.get(f"{TICKETS}/{opened['id']}/history", headers=admin).json()["total"] == 3  # opened, deadlines, assigned
