"""The ticket record carries a field-service job's completion notes, and its SLA status reports the
worse breach: a missed resolution deadline outweighs a missed response deadline, in the record and
in the list filter alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

from commands.breaches import breach_sla
from tests.integration.http_helpers import TICKETS, detail, move, open_ticket, to_crew


def listed_ids(client, headers, **params) -> list[str]:
    response = client.get(TICKETS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


def test_a_completed_field_service_job_shows_its_completion_notes_to_staff_and_the_subscriber(client, auth, projected):
    subscriber, manager, admin, technician = auth("reporter", "sub-1"), auth("manager"), auth("admin"), auth("agent", "tech-1")
    tid = open_ticket(client, subscriber, workflow="field_service", title="No internet")["id"]
    projected()
    assert detail(client, manager, tid)["completion_notes"] is None
    to_crew(client, admin, tid, "tech-1")
    move(client, manager, tid, "assigned", assignee_id="tech-1")
    move(client, technician, tid, "in_progress")
    move(client, technician, tid, "completed", completion_notes="Replaced the router; signal at -12 dB")
    projected()
    for reader in (manager, subscriber):
        assert detail(client, reader, tid)["completion_notes"] == "Replaced the router; signal at -12 dB"
    move(client, admin, tid, "closed")
    projected()
    assert detail(client, subscriber, tid)["completion_notes"] == "Replaced the router; signal at -12 dB"  # closing keeps them


def test_a_missed_resolution_deadline_outweighs_a_response_deadline_missed_first(client, auth, app, projected):
    admin, reporter = auth("admin"), auth("reporter", "cit-1")
    policies = [{"id": "tight", "response_hours": 0.0001, "resolution_hours": 0.0004}]  # 0.36 s and 1.44 s
    assert client.put("/api/v1/sla-policies", json={"policies": policies}, headers=admin).status_code == 200
    projected()
    late = open_ticket(client, reporter, title="Overdue")["id"]
    projected()
    time.sleep(0.5)
    assert breach_sla(app, UUID(late), "response", datetime.now(UTC))  # the scheduler records the first breach
    projected()
    assert detail(client, admin, late)["sla_status"] == "breached_response"
    assert listed_ids(client, admin, sla_status="breached_response") == [late]

    time.sleep(1.1)  # past the resolution deadline too, which no scheduler has recorded yet
    assert detail(client, admin, late)["sla_status"] == "breached_resolution"
    assert listed_ids(client, admin, sla_status="breached_resolution") == [late]
    assert listed_ids(client, admin, sla_status="breached_response") == []
    assert breach_sla(app, UUID(late), "resolution", datetime.now(UTC))
    projected()
    assert detail(client, admin, late)["sla_status"] == "breached_resolution"
    assert listed_ids(client, admin, sla_status="breached_resolution") == [late]
