"""Need to know for agents, for random tenants, tickets and agents: what an agent reads (lists,
searches, the ticket, its history, replies and attachments) follows the tenant's agent_scope.

The oracle restates the rule in plain terms: `all` is every ticket of the tenant; `team` the tickets
held by one of the agent's teams or assigned to them; `assigned` only those assigned to them; with
no setting, `assigned` for field-service jobs and `team` for the rest; and always the tickets the
agent reported themselves. Outside it, a ticket does not exist for the agent (404). The reporter's phone and email reach an agent only on their own job."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.auth import issue_token
from tests.conftest import JWT_SECRET
from tests.integration.http_helpers import TICKETS, new_team

TEAMS = {"A": ("a1", "a2"), "B": ("b1",)}
AGENTS = ["a1", "a2", "b1", "x1"]  # x1 is in no team
OPENERS = ["cit-1", "cit-1", "a2"]  # most reports come from citizens; now and then an agent files one
HOLDERS = [None, ("A", None), ("A", "a1"), ("B", "b1")]  # no one, team A's queue, a1 of team A, b1 of team B
REPORTER = {"id": "cit-1", "name": "Ada", "phone": "+27215550100", "email": "ada@example.org"}

tickets_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "workflow": st.sampled_from(["municipal", "field_service"]),
            "holder": st.sampled_from(HOLDERS),
            "opener": st.sampled_from(OPENERS),
        }
    ),
    min_size=1,
    max_size=5,
)


def reaches(setting: str | None, agent: str, ticket) -> bool:
    scope = setting or ("assigned" if ticket["workflow"] == "field_service" else "team")
    team, assignee = ticket["holder"] or (None, None)
    mine = assignee == agent
    if ticket["opener"] == agent:
        return True
    return {"all": True, "assigned": mine, "team": mine or (team is not None and agent in TEAMS[team])}[scope]


def bearer(tenant: str, role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, tenant=tenant, role=role, sub=sub)}"}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(setting=st.sampled_from([None, "all", "team", "assigned"]), tickets=tickets_strategy)
def test_what_an_agent_reads_follows_the_tenants_agent_scope(client, projected, setting, tickets):
    tenant = f"s{uuid.uuid4().hex[:10]}"
    admin = bearer(tenant, "admin", "admin-1")
    teams = {
        name: new_team(client, admin, f"Team {name}", members=tuple((m, m) for m in members), strategy="none")
        for name, members in TEAMS.items()
    }
    if setting is not None:
        assert client.put("/api/v1/tenant-settings", json={"agent_scope": setting}, headers=admin).status_code == 200
    for ticket in tickets:
        body = {"title": "Leak", "description": "Water", "category": "water", "workflow": ticket["workflow"]}
        body |= {"reporter": REPORTER} if ticket["opener"] == "cit-1" else {}  # an agent reports in their own name
        opener = bearer(tenant, "reporter", "cit-1") if ticket["opener"] == "cit-1" else bearer(tenant, "agent", ticket["opener"])
        ticket["id"] = client.post(TICKETS, json=body, headers=opener).json()["id"]
        if ticket["holder"]:
            team, assignee = ticket["holder"]
            given_to = {"team_id": teams[team], **({"assignee_id": assignee} if assignee else {})}
            assert client.post(f"{TICKETS}/{ticket['id']}/assign", json=given_to, headers=admin).status_code == 200
    projected()

    for agent in AGENTS:
        headers = bearer(tenant, "agent", agent)
        reached = {t["id"] for t in tickets if reaches(setting, agent, t)}
        for params in ({}, {"q": "leak"}):
            listed = client.get(TICKETS, params={**params, "page_size": 200}, headers=headers).json()["items"]
            assert {t["id"] for t in listed} == reached, (agent, params)
            for item in listed:
                ticket = next(t for t in tickets if t["id"] == item["id"])
                own_job = (ticket["holder"] or (None, None))[1] == agent
                assert (item["reporter"]["phone"] is not None) == (own_job and ticket["opener"] == "cit-1"), (agent, item["id"])
        for ticket in tickets:
            want = 200 if ticket["id"] in reached else 404
            reads = [
                client.get(f"{TICKETS}/{ticket['id']}{path}", headers=headers) for path in ("", "/history", "/replies", "/attachments")
            ]
            assert [r.status_code for r in reads] == [want] * len(reads), (agent, ticket, setting)
            if want == 404:
                assert not any("Leak" in r.text or REPORTER["phone"] in r.text for r in reads)
        moved = client.patch(f"{TICKETS}/{tickets[0]['id']}/status", json={"status": "nonexistent"}, headers=headers)
        assert moved.status_code == (404 if tickets[0]["id"] not in reached else 400), moved.text  # a command sees what reading sees
