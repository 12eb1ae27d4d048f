"""What each role reads of a ticket's history, for random sequences of staff commands.

Staff write secret markers into everything they write for each other (status notes, assignment
reasons, routing rule names, rejections, unassignments, transfers, redactions, archiving, internal
notes, the SLA policy's id) and public markers where they write for the reporter (notes marked
public, the title, completion notes). The oracle, in plain terms: the reporter's history, record
and list never hold a secret marker and hold every public note; agents, managers, ward councillors,
admins and auditors read every secret marker that a command recorded; internal notes' entries reach
staff and auditors only; liaison officers do not read an ordinary ticket at all.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.auth import issue_token
from commands.breaches import breach_sla
from tests.conftest import JWT_SECRET
from tests.integration.http_helpers import TICKETS, detail, history, move, new_team, open_ticket, set_rules

STATES = ["open", "in_progress", "resolved", "closed", "assigned", "completed", "answered", "on_hold", "waiting_for_response"]
TECHS = ["tech-a", "tech-b"]
KINDS = ["status", "status", "assign", "accept", "reject", "unassign", "transfer", "internal_note", "reply", "edit", "redact", "breach"]
READERS_OF_EVERYTHING = [("manager", None), ("admin", None), ("auditor", None), ("agent", None), ("ward_councillor", "w1")]

steps = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(KINDS),
            "state": st.sampled_from(STATES),
            "by": st.sampled_from(["manager", "admin", *TECHS]),
            "tech": st.sampled_from(TECHS),
            "public": st.booleans(),
            "by_rules": st.booleans(),
        }
    ),
    min_size=1,
    max_size=8,
)


class Tenant:
    def __init__(self) -> None:
        self.name = f"h{uuid.uuid4().hex[:12]}"

    def headers(self, role: str, sub: str | None = None, ward: str | None = "w1") -> dict[str, str]:
        token = issue_token(JWT_SECRET, tenant=self.name, role=role, sub=sub or f"{role}-1", ward=ward)
        return {"Authorization": f"Bearer {token}"}

    def caller(self, who: str) -> dict[str, str]:
        return self.headers("agent", who) if who in TECHS else self.headers(who)


def marker(kind: str, secret: bool = True) -> str:
    return f"{'SECRET' if secret else 'PUBLIC'}-{kind}-{uuid.uuid4().hex[:8]}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    workflow=st.sampled_from(["municipal", "field_service", "helpdesk"]),
    auto_route=st.booleans(),
    archive_at_end=st.booleans(),
    commands=steps,
)
def test_a_reporter_never_reads_staff_text_in_the_history_unless_made_public_and_staff_read_all_of_it(
    client, app, projected, workflow, auto_route, archive_at_end, commands
):
    tenant = Tenant()
    admin = tenant.headers("admin")
    policy, rule = marker("policy"), marker("rule")
    assert client.put("/api/v1/sla-policies", json={"policies": [{"id": policy, "response_hours": 48}]}, headers=admin).status_code == 200
    crew = new_team(client, admin, "Crew", members=(("tech-a", "Ann Tech"), ("tech-b", "Ben Tech")), strategy="round_robin")
    set_rules(client, admin, [{"name": rule, "team_id": crew, "category": ["lighting"]}])
    # Agents read the whole tenant: this is a test of what the history discloses, not of what agents reach.
    settings_ = {"agent_scope": "all", **({"auto_route_on_open": True} if auto_route else {})}
    assert client.put("/api/v1/tenant-settings", json=settings_, headers=admin).status_code == 200
    reporter = tenant.headers("reporter", "cit-1")
    tid = open_ticket(client, reporter, workflow=workflow, address="1 Oak Rd", ward="w1")["id"]

    secrets = {policy} | ({rule} if auto_route else set())  # what the history holds for staff
    public_notes: set[str] = set()
    internal_notes = 0
    for step in [*commands, *([{"kind": "archive"}] if archive_at_end else [])]:
        kind, text = step["kind"], marker(step["kind"], secret=not step.get("public", False) or step["kind"] != "status")
        if kind == "status":
            body = {"status": step["state"], "note": text, "note_public": step["public"], "assignee_id": "tech-a"}
            body["completion_notes"] = marker("completion", secret=False)
            response = client.patch(f"{TICKETS}/{tid}/status", json=body, headers=tenant.caller(step["by"]))
            if response.status_code == 200:
                (public_notes if step["public"] else secrets).add(text)
        elif kind == "assign":
            body = {} if step["by_rules"] else {"team_id": crew, "reason": text}
            response = client.post(f"{TICKETS}/{tid}/assign", json=body, headers=tenant.headers("manager"))
            if response.status_code == 200:
                secrets.add(rule if step["by_rules"] else text)
        elif kind == "accept":
            response = client.post(f"{TICKETS}/{tid}/accept", headers=tenant.caller(step["tech"]))
        elif kind == "archive":
            response = client.delete(f"{TICKETS}/{tid}", params={"reason": text}, headers=admin)
            if response.status_code == 200:
                secrets.add(text)
        elif kind in ("reject", "unassign", "transfer", "redact"):
            who, body = {
                "reject": (tenant.caller(step["tech"]), {"reason": text}),
                "unassign": (admin, {"reason": text}),
                "transfer": (tenant.headers("manager"), {"assignee_id": step["tech"], "reason": text}),
                "redact": (admin, {"field": "address", "reason": text}),
            }[kind]
            response = client.post(f"{TICKETS}/{tid}/{'redactions' if kind == 'redact' else kind}", json=body, headers=who)
            if response.status_code == 200:
                secrets.add(text)
        elif kind in ("internal_note", "reply"):
            internal = kind == "internal_note"
            body = {"body": text if internal else marker("reply", secret=False), "internal": internal}
            response = client.post(f"{TICKETS}/{tid}/replies", json=body, headers=tenant.headers("agent", "tech-a"))
            internal_notes += internal and response.status_code in (200, 201)
        elif kind == "edit":
            body = {"title": marker("title", secret=False), "priority": "urgent" if step["public"] else "low"}
            response = client.patch(f"{TICKETS}/{tid}", json=body, headers=tenant.headers("manager"))
        else:  # the scheduler finds the response deadline passed
            response = None
            breach_sla(app, uuid.UUID(tid), "response", datetime.now(UTC) + timedelta(days=3))
        assert response is None or response.status_code < 500, response.text
    projected()

    theirs = history(client, reporter, tid)
    shown = f"{theirs} {detail(client, reporter, tid)} {client.get(TICKETS, headers=reporter).text}"
    assert "SECRET" not in shown
    assert all(note in shown for note in public_notes)
    assert not any(e["event"] in ("AssignmentRejected", "Unassigned") or e["changes"].get("internal", {}).get("new") for e in theirs)

    for role, ward in READERS_OF_EVERYTHING:
        entries = history(client, tenant.headers(role, ward=ward), tid)
        text = str(entries)
        assert all(secret in text for secret in secrets), (role, secrets - {s for s in secrets if s in text})
        internal = sum(1 for e in entries if e["event"] == "ReplyAdded" and e["changes"]["internal"]["new"])
        assert internal == (0 if role == "ward_councillor" else internal_notes), role
    assert client.get(f"{TICKETS}/{tid}/history", headers=tenant.headers("liaison")).status_code == 403


def test_a_reporter_reads_the_moves_and_public_notes_of_their_ticket_but_not_the_staffs_reasons(client, auth, projected):
    reporter, manager, admin, tech = auth("reporter", "cit-1"), auth("manager"), auth("admin"), auth("agent", "tech-a")
    crew = new_team(client, admin, "Crew", members=(("tech-a", "Ann Tech"), ("tech-b", "Ben Tech")), strategy="round_robin")
    tid = open_ticket(client, reporter)["id"]
    assign = client.post(
        f"{TICKETS}/{tid}/assign", json={"team_id": crew, "assignee_id": "tech-a", "reason": "repeat complainer"}, headers=manager
    )
    assert assign.status_code == 200, assign.text
    assert client.post(f"{TICKETS}/{tid}/reject", json={"reason": "reporter is rude"}, headers=tech).status_code == 200
    move(client, manager, tid, "in_progress", note="Crew booked for Tuesday", note_public=True)
    move(client, manager, tid, "resolved", note="Cheap fix, do not tell them")
    projected()

    theirs = history(client, reporter, tid)
    assert [e["event"] for e in theirs] == ["Opened", "Assigned", "Assigned", "StatusChanged", "StatusChanged"]
    assert [(e["changes"]["status"]["new"], e["note"], e["note_public"]) for e in theirs if e["event"] == "StatusChanged"] == [
        ("in_progress", "Crew booked for Tuesday", True),
        ("resolved", None, False),
    ]
    assert all(e["note"] is None and "rule" not in e["changes"] for e in theirs if e["event"] == "Assigned")
    for secret in ("repeat complainer", "reporter is rude", "Cheap fix"):
        assert secret not in str(theirs)
    staff = str(history(client, auth("auditor"), tid))
    assert all(text in staff for text in ("repeat complainer", "reporter is rude", "Cheap fix", "Crew booked"))
