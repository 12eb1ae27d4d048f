"""Access control over the audit trail, for random callers, random tickets and random clearances:
the access-control property tests (test_access_control.py) extended to the event store's endpoints.

The oracle, in plain terms: only auditors and administrators read the trail; nobody another
tenant's; a sensitive ticket's events (however it became sensitive, from its opening on) only
administrators, and auditors whose tenant cleared them. Not in a page, not in a stream, not in a
ticket's own stream, not in an error message.
"""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.audit_helpers import chained
from tests.integration.test_access_control import callers_strategy, headers, is_sensitive, tickets_strategy

EVENTS = "/api/v1/audit/events"
NDJSON = {"Accept": "application/x-ndjson"}


def reads_trail(caller) -> bool:
    return caller["role"] in ("auditor", "admin")


def cleared(caller, clearances) -> bool:
    return caller["role"] == "admin" or (caller["role"] == "auditor" and clearances[caller["tenant"]])


def expected_stream(caller, ticket, clearances) -> int:
    """200, 403 or 404 for this caller reading this ticket's own stream."""
    if not reads_trail(caller):
        return 403
    if caller["tenant"] != ticket["tenant"]:
        return 404
    return 403 if is_sensitive(ticket) and not cleared(caller, clearances) else 200


def open_tickets(client, tenants, tickets) -> None:
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
        if ticket["marked_later"] and not (ticket["flagged"] or ticket["category"] == "gbv"):
            admin = {"tenant": ticket["tenant"], "role": "admin", "sub": "a", "ward": "w1"}
            marked = client.post(f"/api/v1/tickets/{ticket['id']}/sensitive", json={"reason": "abuse"}, headers=headers(tenants, admin))
            assert marked.status_code == 200, marked.text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tickets=tickets_strategy, callers=callers_strategy, clearances=st.tuples(st.booleans(), st.booleans()))
def test_no_audit_endpoint_shows_an_event_the_rules_forbid(client, app, projectors, tickets, callers, clearances):
    tenants = [f"a{uuid.uuid4().hex[:10]}", f"b{uuid.uuid4().hex[:10]}"]
    open_tickets(client, tenants, tickets)
    for index, clear in enumerate(clearances):
        admin = {"tenant": index, "role": "admin", "sub": "a", "ward": "w1"}
        body = {"auditors_see_sensitive": clear}
        assert client.put("/api/v1/audit/settings", json=body, headers=headers(tenants, admin)).status_code == 200
    chained(projectors, app)

    for caller in callers:
        auth = headers(tenants, caller)
        page, stream = client.get(EVENTS, params={"limit": 1000}, headers=auth), client.get(EVENTS, headers={**auth, **NDJSON})
        if not reads_trail(caller):
            assert (page.status_code, stream.status_code) == (403, 403)
            assert "Report" not in page.text + stream.text
        else:
            allowed = {t["id"] for t in tickets if t["tenant"] == caller["tenant"] and (not is_sensitive(t) or cleared(caller, clearances))}
            streamed = [json.loads(line) for line in stream.text.splitlines()]
            assert page.json()["items"] == streamed
            assert {i["aggregate_id"] for i in streamed if i["aggregate_type"] == "Ticket"} == allowed, caller
            forbidden = {t["id"] for t in tickets} - allowed
            assert not any(ticket_id in stream.text for ticket_id in forbidden)
        for ticket in tickets:
            own = client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=auth)
            want = expected_stream(caller, ticket, clearances)
            assert own.status_code == want, (caller, ticket, own.text)
            if want == 200:
                assert {i["aggregate_id"] for i in own.json()["items"]} == {ticket["id"]}
            else:
                assert "Report" not in own.text and "Details" not in own.text
