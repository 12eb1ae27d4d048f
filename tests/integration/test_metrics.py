"""GET /metrics: commands by use case and outcome, latency, batch sizes, and the positions and lag
of projections and relay, and the SLA timers, in Prometheus' text format."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families


def samples(client) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def count(found, name, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_commands_by_use_case_and_outcome_and_time_them(client, auth, projected):
    before = samples(client)
    opened = client.post("/api/v1/tickets", json={"title": "Leak", "description": "d", "category": "water"}, headers=auth("reporter"))
    ticket_id = opened.json()["id"]
    assert client.patch(f"/api/v1/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=auth()).status_code == 409
    after = samples(client)
    assert (
        count(after, "docket_commands_total", command="open_ticket", outcome="ok")
        == count(before, "docket_commands_total", command="open_ticket", outcome="ok") + 1
    )
    assert (
        count(after, "docket_commands_total", command="change_status", outcome="refused")
        == count(before, "docket_commands_total", command="change_status", outcome="refused") + 1
    )
    assert count(after, "docket_command_seconds_count", command="open_ticket") >= 1
    assert count(after, "docket_commit_batch_size_count", mode="together") >= 1


def test_metrics_show_how_far_each_projection_and_the_relay_are_behind_the_event_store(client, auth, projected):
    client.post("/api/v1/tickets", json={"title": "Leak", "description": "d", "category": "water"}, headers=auth("reporter"))
    projected()
    found = samples(client)
    head = count(found, "docket_event_store_head")
    assert head > 0
    for projection in ("tickets", "dashboard"):
        assert count(found, "docket_projection_lag_events", projection=projection) == 0
        assert 0 < count(found, "docket_projection_position", projection=projection) <= head
    # No relay runs in this process's tests: it is as far behind as there are ticket events.
    assert count(found, "docket_projection_lag_events", projection="relay") > 0
    assert ("docket_sla_timers", ()) in found


def test_metrics_name_no_tenant(client, auth, tenant):
    client.post("/api/v1/tickets", json={"title": "Leak", "description": "d", "category": "water"}, headers=auth("reporter"))
    assert not re.search(re.escape(tenant), client.get("/metrics").text)
