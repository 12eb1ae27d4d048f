"""Classification: a report in one of the tenant's sensitive categories is sensitive whatever its
flag says, and staff can make an ordinary ticket sensitive later, for good. From then on it leaves
every ordinary eye (lists, the ticket itself, its history) and an ordinary team, and the tenant's
rules give it to a restricted one."""

from __future__ import annotations

from tests.integration.http_helpers import TICKETS, detail, history, new_team, open_ticket, refused, set_rules

SETTINGS = "/api/v1/tenant-settings"


def listed(client, headers) -> set[str]:
    response = client.get(TICKETS, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def mark(client, headers, ticket_id: str, reason: str = "The report describes abuse at home"):
    return client.post(f"{TICKETS}/{ticket_id}/sensitive", json={"reason": reason}, headers=headers)


def test_a_report_in_a_sensitive_category_is_sensitive_whatever_its_flag_says(client, auth, projected):
    reporter, manager, liaison = auth("reporter", "cit-1"), auth("manager"), auth("liaison")
    gbv = open_ticket(client, reporter, category="gbv", title="Help", description="My partner hits me")["id"]
    ordinary = open_ticket(client, reporter)["id"]
    projected()
    refused(client.get(f"{TICKETS}/{gbv}", headers=manager), 403, "restricted_ticket")
    assert gbv not in listed(client, manager) and ordinary in listed(client, manager)
    assert gbv in listed(client, liaison) and detail(client, liaison, gbv)["is_sensitive"] is True
    assert detail(client, reporter, gbv)["is_sensitive"] is True  # the reporter still reads their own report


def test_a_tenant_names_its_own_sensitive_categories(client, auth, projected):
    admin, reporter, manager = auth("admin"), auth("reporter", "cit-2"), auth("manager")
    saved = client.put(SETTINGS, json={"sensitive_categories": ["abuse", " Harassment ", "abuse"]}, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["sensitive_categories"] == ["abuse", "harassment"]
    harassment = open_ticket(client, reporter, category="Harassment")["id"]
    gbv = open_ticket(client, reporter, category="gbv")["id"]  # no longer in the tenant's list
    projected()
    assert client.get(SETTINGS, headers=admin).json()["sensitive_categories"] == ["abuse", "harassment"]
    assert harassment not in listed(client, manager)
    assert detail(client, manager, gbv)["is_sensitive"] is False


def test_settings_that_make_no_sense_are_refused_naming_the_field(client, auth):
    admin = auth("admin")
    refused(client.put(SETTINGS, json={"sensitive_categories": "gbv"}, headers=admin), 400, "invalid_input", "sensitive_categories")
    refused(client.put(SETTINGS, json={"sensitive_categories": [""]}, headers=admin), 400, "invalid_input", "sensitive_categories[0]")
    refused(client.put(SETTINGS, json={"agent_scope": "everyone"}, headers=admin), 400, "invalid_input", "agent_scope")
    refused(client.put(SETTINGS, json={"sensitive_categories": []}, headers=auth("manager")), 403, "role_not_allowed")


def test_a_ticket_made_sensitive_leaves_its_ordinary_team_for_a_restricted_one_and_every_ordinary_eye(client, auth, projected):
    admin, manager, liaison, agent = auth("admin"), auth("manager"), auth("liaison", "liaison-a"), auth("agent", "tech-a")
    crew = new_team(client, admin, "Crew", members=(("tech-a", "Ann Tech"),), strategy="round_robin")
    desk = new_team(client, admin, "Desk", members=(("liaison-a", "Lee Liaison", "liaison"),), is_restricted=True, strategy="round_robin")
    set_rules(client, admin, [{"name": "lighting", "team_id": crew, "category": ["lighting"]}], fallback_team_id=desk)
    ticket_id = open_ticket(client, auth("reporter", "cit-3"))["id"]
    given = client.post(f"{TICKETS}/{ticket_id}/assign", json={"team_id": crew, "assignee_id": "tech-a"}, headers=manager)
    assert given.status_code == 200, given.text
    projected()
    assert ticket_id in listed(client, agent)

    marked = mark(client, manager, ticket_id)
    assert marked.status_code == 200, marked.text
    projected()
    now = detail(client, liaison, ticket_id)
    assert (now["is_sensitive"], now["team_id"], now["assignee_id"]) == (True, desk, "liaison-a")
    for ordinary in (manager, agent, auth("ward_councillor", ward="w1")):
        assert ticket_id not in listed(client, ordinary)
        # The agent lost it with their team: outside what they reach, it does not exist for them.
        status, code = (404, "ticket_not_found") if ordinary is agent else (403, "restricted_ticket")
        refused(client.get(f"{TICKETS}/{ticket_id}", headers=ordinary), status, code)
        refused(client.get(f"{TICKETS}/{ticket_id}/history", headers=ordinary), status, code)
    entry = next(e for e in history(client, liaison, ticket_id) if e["event"] == "MarkedSensitive")
    assert entry["changes"]["is_sensitive"] == {"old": False, "new": True}
    assert entry["changes"]["team_id"] == {"old": crew, "new": None}
    assert entry["note"] == "The report describes abuse at home"


def test_the_liaison_may_make_sensitive_a_ticket_they_could_not_read(client, auth, projected):
    liaison = auth("liaison")
    ticket_id = open_ticket(client, auth("reporter", "cit-4"))["id"]
    projected()
    refused(client.get(f"{TICKETS}/{ticket_id}", headers=liaison), 403, "outside_role")
    assert mark(client, liaison, ticket_id).status_code == 200
    projected()
    assert detail(client, liaison, ticket_id)["is_sensitive"] is True


def test_making_a_ticket_sensitive_is_refused_to_whom_it_is_not_for_and_only_happens_once(client, auth, tenant):
    ticket_id = open_ticket(client, auth("reporter", "cit-5"))["id"]
    refused(mark(client, auth("reporter", "cit-5"), ticket_id), 403, "role_not_allowed")
    refused(mark(client, auth("agent"), ticket_id), 403, "role_not_allowed")
    refused(mark(client, auth("admin", tenant_=f"{tenant}-other"), ticket_id), 404, "ticket_not_found")
    refused(client.post(f"{TICKETS}/{ticket_id}/sensitive", json={}, headers=auth("admin")), 400, "invalid_input", "reason")
    refused(mark(client, auth("admin"), ticket_id, reason=""), 400, "invalid_input", "reason")
    assert mark(client, auth("admin"), ticket_id).status_code == 200
    refused(mark(client, auth("admin"), ticket_id), 409, "already_sensitive")


def test_an_administrators_lists_searches_and_queue_leave_sensitive_tickets_out_unless_asked(client, auth, projected):
    admin, liaison, reporter = auth("admin", "admin-9"), auth("liaison"), auth("reporter", "cit-6")
    sensitive = open_ticket(client, reporter, is_sensitive=True, title="Threats from a neighbour")["id"]
    ordinary = open_ticket(client, reporter)["id"]
    desk = new_team(client, admin, "Desk", members=(("admin-9", "Ada Admin", "admin"),), is_restricted=True)
    crew = new_team(client, admin, "Crew", members=(("admin-9", "Ada Admin", "admin"),))
    for ticket_id, team in ((sensitive, desk), (ordinary, crew)):
        given = client.post(f"{TICKETS}/{ticket_id}/assign", json={"team_id": team, "assignee_id": "admin-9"}, headers=admin)
        assert given.status_code == 200, given.text
    projected()
    queue = client.get("/api/v1/me/queue", headers=admin).json()["items"]
    assert [item["id"] for item in queue] == [ordinary]
    queue = client.get("/api/v1/me/queue", params={"include_sensitive": "true"}, headers=admin).json()["items"]
    assert {item["id"] for item in queue} == {sensitive, ordinary}
    assert sensitive not in listed(client, admin) and ordinary in listed(client, admin)
    found = client.get(TICKETS, params={"q": "neighbour"}, headers=admin).json()["items"]
    assert found == []
    asked = client.get(TICKETS, params={"include_sensitive": "true"}, headers=admin).json()["items"]
    assert {sensitive, ordinary} <= {item["id"] for item in asked}
    assert detail(client, admin, sensitive)["is_sensitive"] is True  # by id, as before
    assert sensitive in listed(client, liaison) and ordinary not in listed(client, liaison)
    widened = client.get(TICKETS, params={"include_sensitive": "true"}, headers=auth("manager")).json()["items"]
    assert sensitive not in {item["id"] for item in widened}  # asking widens nothing for other roles
