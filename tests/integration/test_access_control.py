"""Access control over every read endpoint, for random callers and random tickets.

The oracle below restates the rules of issue 7 in plain terms, independently of domain/:
a reporter sees only their own tickets; a ward councillor only their ward's; sensitive
tickets only liaison officers, administrators and their own reporter; liaison officers only
sensitive tickets; nobody another tenant's. A ticket is sensitive when its reporter says so, when
its category is one of the tenant's sensitive ones (gbv by default), or when staff made it so later.
An administrator's lists leave sensitive tickets out unless asked for them. An agent reads only the
tickets of their teams or given to them (test_agent_scope.py varies that).
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.auth import issue_token
from tests.conftest import JWT_SECRET

ROLES = ["reporter", "agent", "manager", "ward_councillor", "liaison", "admin", "auditor"]
WARDS = ["w1", "w2"]
REPORTERS = ["r1", "r2"]

tickets_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "tenant": st.sampled_from([0, 1]),
            "ward": st.sampled_from(WARDS),
            "reporter": st.sampled_from(REPORTERS),
            "flagged": st.booleans(),
            "category": st.sampled_from(["safety", "safety", "gbv"]),
            "marked_later": st.booleans(),
        }
    ),
    min_size=1,
    max_size=6,
)
callers_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "tenant": st.sampled_from([0, 1]),
            "role": st.sampled_from(ROLES),
            "ward": st.sampled_from(WARDS),
            "sub": st.sampled_from(REPORTERS),
            "include_sensitive": st.booleans(),
        }
    ),
    min_size=1,
    max_size=4,
)


def is_sensitive(ticket) -> bool:
    return ticket["flagged"] or ticket["category"] == "gbv" or ticket["marked_later"]


def listed(caller, ticket) -> bool:
    """Whether the ticket is in the caller's lists and searches."""
    if caller["role"] == "admin" and is_sensitive(ticket) and not caller["include_sensitive"]:
        return False
    return expected(caller, ticket) == 200


def expected(caller, ticket):
    """200, 403 or 404 for this caller reading this ticket."""
    if caller["tenant"] != ticket["tenant"]:
        return 404
    if caller["role"] == "reporter":
        return 200 if ticket["reporter"] == caller["sub"] else 404
    if caller["role"] == "ward_councillor" and caller["ward"] != ticket["ward"]:
        return 404
    if caller["role"] == "agent" and caller["sub"] != ticket["reporter"]:  # with no team and no one: outside an agent's reach
        return 404  # (but for what they reported themselves)
    if is_sensitive(ticket):
        return 200 if caller["role"] in ("liaison", "admin") else 403
    return 403 if caller["role"] == "liaison" else 200


def headers(tenants, caller):
    token = issue_token(JWT_SECRET, tenant=tenants[caller["tenant"]], role=caller["role"], sub=caller["sub"], ward=caller["ward"])
    return {"Authorization": f"Bearer {token}"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tickets=tickets_strategy, callers=callers_strategy)
def test_no_read_endpoint_shows_or_counts_a_ticket_the_rules_forbid(client, projected, tickets, callers):
    tenants = [f"a{uuid.uuid4().hex[:10]}", f"b{uuid.uuid4().hex[:10]}"]
    for ticket in tickets:
        opener = {"tenant": ticket["tenant"], "role": "reporter", "sub": ticket["reporter"], "ward": ticket["ward"]}
        body = {
            "title": "Report",
            "description": "Details",
            "category": ticket["category"],
            "ward": ticket["ward"],
            "is_sensitive": ticket["flagged"],
        }
        response = client.post("/api/v1/tickets", json=body, headers=headers(tenants, opener))
        assert response.status_code == 201, response.text
        ticket["id"] = response.json()["id"]
        if ticket["marked_later"]:
            liaison = {"tenant": ticket["tenant"], "role": "liaison", "sub": "liaison-1", "ward": ticket["ward"]}
            marked = client.post(f"/api/v1/tickets/{ticket['id']}/sensitive", json={"reason": "abuse"}, headers=headers(tenants, liaison))
            assert marked.status_code == (409 if ticket["flagged"] or ticket["category"] == "gbv" else 200), marked.text
    projected()

    for caller in callers:
        auth = headers(tenants, caller)
        visible = {t["id"] for t in tickets if listed(caller, t)}
        asked = {"include_sensitive": str(caller["include_sensitive"]).lower()}
        # A sensitive ticket's words rest sealed, out of the full-text index: a search by words finds ordinary ones only.
        searched = {t["id"] for t in tickets if listed(caller, t) and not is_sensitive(t)}
        for params, want in (
            ({"page_size": 200}, visible),
            ({"q": "report", "page_size": 200}, searched),
            ({"sort_by": "priority"}, visible),
        ):
            page = client.get("/api/v1/tickets", params={**params, **asked}, headers=auth).json()
            assert {t["id"] for t in page["items"]} == want
            assert page["total"] == len(want)
        for ticket in tickets:
            want = expected(caller, ticket)
            reads = [
                client.get(f"/api/v1/tickets/{ticket['id']}{path}", headers=auth) for path in ("", "/history", "/replies", "/attachments")
            ]
            assert [r.status_code for r in reads] == [want] * len(reads), (caller, ticket)
            if want != 200:
                assert not any("Report" in r.text or "Details" in r.text for r in reads)
        assert_dashboard_counts_only_what_the_rules_allow(client, auth, caller, tickets)


def assert_dashboard_counts_only_what_the_rules_allow(client, auth, caller, tickets):
    """Dashboards count no sensitive ticket, for anyone; a councillor's only their ward's."""
    metrics = client.get("/api/v1/dashboard/metrics", headers=auth)
    if caller["role"] in ("reporter", "liaison"):
        assert metrics.status_code == 403
        return
    counted = [
        t
        for t in tickets
        if t["tenant"] == caller["tenant"] and not is_sensitive(t) and (caller["role"] != "ward_councillor" or t["ward"] == caller["ward"])
    ]
    assert metrics.json()["total_open"] == len(counted)
    volume = client.get("/api/v1/dashboard/volume", headers=auth).json()
    assert sum(v["open"] for v in volume) == len(counted)


def test_a_sensitive_ticket_is_403_for_a_manager_and_200_for_liaison_and_admin(client, auth, projected):
    opened = client.post(
        "/api/v1/tickets",
        json={"title": "GBV report", "description": "Confidential", "category": "gbv", "is_sensitive": True},
        headers=auth("reporter", "survivor"),
    ).json()
    projected()
    url = f"/api/v1/tickets/{opened['id']}"
    refused = client.get(url, headers=auth("manager"))
    assert refused.status_code == 403 and "Confidential" not in refused.text and "GBV" not in refused.text
    assert client.get(url, headers=auth("liaison")).status_code == 200
    assert client.get(url, headers=auth("admin")).status_code == 200
    assert client.get(url, headers=auth("reporter", "survivor")).json()["is_sensitive"] is True
    assert client.patch(f"{url}/status", json={"status": "in_progress"}, headers=auth("manager")).status_code == 403
    assert client.patch(f"{url}/status", json={"status": "in_progress"}, headers=auth("liaison")).status_code == 200


def test_a_ward_councillor_sees_only_their_ward_and_cannot_change_status_or_assign(client, auth, projected):
    mine = client.post(
        "/api/v1/tickets", json={"title": "A", "description": "d", "category": "c", "ward": "w1"}, headers=auth("reporter")
    ).json()
    other = client.post(
        "/api/v1/tickets", json={"title": "B", "description": "d", "category": "c", "ward": "w2"}, headers=auth("reporter")
    ).json()
    projected()
    councillor = auth("ward_councillor", ward="w1")
    assert [t["id"] for t in client.get("/api/v1/tickets", headers=councillor).json()["items"]] == [mine["id"]]
    assert client.get(f"/api/v1/tickets/{other['id']}", headers=councillor).status_code == 404
    assert client.patch(f"/api/v1/tickets/{mine['id']}/status", json={"status": "closed"}, headers=councillor).status_code == 403
    assert client.post(f"/api/v1/tickets/{mine['id']}/assign", json={}, headers=councillor).status_code == 403
    assert client.get("/api/v1/dashboard/metrics", params={"ward": "w2"}, headers=councillor).json()["total_open"] == 1  # still w1


def test_a_subscriber_cannot_change_the_status_of_their_own_ticket(client, auth):
    opened = client.post(
        "/api/v1/tickets", json={"title": "A", "description": "d", "category": "c"}, headers=auth("reporter", "sub-1")
    ).json()
    response = client.patch(f"/api/v1/tickets/{opened['id']}/status", json={"status": "closed"}, headers=auth("reporter", "sub-1"))
    assert response.status_code == 403
