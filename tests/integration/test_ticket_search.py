"""The ticket list: filters, full-text search with ranking, sorting and stable pages."""

from __future__ import annotations

import time

from sqlalchemy import text

from tests.integration.http_helpers import TICKETS, open_ticket


def listed(client, headers, **params) -> dict:
    response = client.get(TICKETS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def titles(page: dict) -> list[str]:
    return [item["title"] for item in page["items"]]


def test_search_finds_words_in_title_and_description_best_match_first(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    open_ticket(client, reporter, title="Pothole near the school", description="Deep hole")
    open_ticket(client, reporter, title="Water leak in the park", description="Slow leak by the fountain")
    open_ticket(client, reporter, title="Burst water main", description="Water everywhere on Long Street, water in houses")
    projected()
    found = listed(client, manager, q="water")
    assert titles(found) == ["Burst water main", "Water leak in the park"]
    assert found["total"] == 2
    assert titles(listed(client, manager, q='"long street"')) == ["Burst water main"]
    assert titles(listed(client, manager, q="water -park")) == ["Burst water main"]


def test_search_finds_a_ticket_by_its_tracking_number(client, auth, projected):
    reporter = auth("reporter", "cit-1")
    first = open_ticket(client, reporter, title="Streetlight out")
    open_ticket(client, reporter, title="Streetlight flickers")
    projected()
    found = listed(client, auth("manager"), q=first["tracking_number"])
    assert [item["id"] for item in found["items"]] == [first["id"]]


def test_search_uses_the_full_text_index_not_a_scan(engine):
    with engine.connect() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            r[0] for r in conn.execute(text("EXPLAIN SELECT id FROM tickets WHERE search @@ websearch_to_tsquery('simple', 'water')"))
        )
    assert "tickets_search" in plan


def test_filters_combine_and_every_one_narrows(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    open_ticket(client, reporter, title="A", priority="high", ward="7", tags=["roads", "night"])
    open_ticket(client, reporter, title="B", priority="high", ward="8", tags=["roads"])
    open_ticket(client, reporter, title="C", priority="low", ward="7", tags=["night"])
    projected()
    assert titles(listed(client, manager, priority="high", sort_by="created_at", order="asc")) == ["A", "B"]
    assert titles(listed(client, manager, ward="7", sort_by="created_at", order="asc")) == ["A", "C"]
    assert titles(listed(client, manager, tags=["roads", "night"])) == ["A"]
    assert titles(listed(client, manager, priority="high", ward="7")) == ["A"]
    assert listed(client, manager, priority="urgent")["total"] == 0


def test_a_date_range_takes_tickets_opened_within_it(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    first = open_ticket(client, reporter, title="Early")
    open_ticket(client, reporter, title="Late")
    projected()
    assert titles(listed(client, manager, created_to=first["created_at"])) == ["Early"]
    assert titles(listed(client, manager, created_from=first["created_at"], sort_by="created_at", order="asc")) == ["Early", "Late"]


def test_sorting_by_priority_either_way_and_ties_in_a_stable_order(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    for title, priority in (("low", "low"), ("urgent", "urgent"), ("medium-1", "medium"), ("medium-2", "medium")):
        open_ticket(client, reporter, title=title, priority=priority)
    projected()
    descending = titles(listed(client, manager, sort_by="priority"))
    assert descending[0] == "urgent" and descending[-1] == "low"
    assert titles(listed(client, manager, sort_by="priority", order="asc"))[0] == "low"
    assert descending == titles(listed(client, manager, sort_by="priority"))  # same order every time
    paged = [t for page in (1, 2) for t in titles(listed(client, manager, sort_by="priority", page=page, page_size=2))]
    assert paged == descending


def test_the_sla_status_filter_and_deadline_sort(client, auth, projected):
    admin, reporter = auth("admin"), auth("reporter", "cit-1")
    policies = [{"id": "urgent", "priority": "urgent", "response_hours": 0.0001}, {"id": "normal", "response_hours": 48}]
    assert client.put("/api/v1/sla-policies", json={"policies": policies}, headers=admin).status_code == 200
    projected()
    open_ticket(client, reporter, title="Overdue", priority="urgent")
    open_ticket(client, reporter, title="Plenty of time", priority="low")
    projected()
    time.sleep(0.5)  # past the urgent policy's 0.36 s response target
    assert titles(listed(client, admin, sla_status="breached_response")) == ["Overdue"]
    assert titles(listed(client, admin, sla_status="on_track")) == ["Plenty of time"]
    assert titles(listed(client, admin, sort_by="sla_deadline", order="asc")) == ["Overdue", "Plenty of time"]
    detail = client.get(f"{TICKETS}/{listed(client, admin, q='overdue')['items'][0]['id']}", headers=admin).json()
    assert (detail["sla_status"], detail["sla_policy_id"]) == ("breached_response", "urgent")


def test_bad_list_parameters_are_refused_naming_the_parameter(client, auth):
    manager = auth("manager")
    for params, field in (
        ({"sort_by": "colour"}, "sort_by"),
        ({"sla_status": "late"}, "sla_status"),
        ({"order": "up"}, "order"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"page_size": 500}, "page_size"),
    ):
        response = client.get(TICKETS, params=params, headers=manager)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field


def test_a_list_by_sla_status_counts_its_total_against_the_clock(client, auth, projected):
    """A ticket past its deadline is breached with no event to move the read model: a total of a
    list by SLA status is never one remembered from before (projections/totals.py)."""
    admin, reporter = auth("admin"), auth("reporter", "cit-1")
    policies = [{"id": "tight", "priority": "urgent", "response_hours": 0.0003}, {"id": "normal", "response_hours": 48}]  # 1.08 s
    assert client.put("/api/v1/sla-policies", json={"policies": policies}, headers=admin).status_code == 200
    projected()
    open_ticket(client, reporter, title="Soon late", priority="urgent")
    open_ticket(client, reporter, title="Plenty of time", priority="low")
    projected()
    assert listed(client, admin, sla_status="on_track")["total"] == 2
    time.sleep(1.2)  # past the urgent one's response target; nothing recorded it
    on_track = listed(client, admin, sla_status="on_track")
    assert (titles(on_track), on_track["total"]) == (["Plenty of time"], 1)
    assert listed(client, admin, sla_status="breached_response")["total"] == 1
