"""Teams and routing rules through HTTP: an admin creates and changes teams and their members,
staff read them, bad input is a 400 naming the field, every other role is refused, a tenant's
teams stay in that tenant, and each replacement of the routing rules is a new version."""

from __future__ import annotations

import uuid

import pytest

from commands.app import Docket
from tests.integration.http_helpers import ROUTING_RULES, TEAMS, new_team, refused, set_rules

CREWS = (("tech-a", "Ann Tech"), ("tech-b", "Ben Tech"), ("tech-c", "Cat Tech"))


def listed(client, headers) -> dict[str, dict]:
    response = client.get(TEAMS, headers=headers)
    assert response.status_code == 200, response.text
    return {team["id"]: team for team in response.json()}


def members(team: dict) -> list[tuple[str, str, str]]:
    return [(m["user_id"], m["display_name"], m["role"]) for m in team["members"]]


def test_an_admin_creates_a_team_with_its_members_and_every_staff_role_and_the_auditor_reads_it(client, auth, projected):
    admin = auth("admin")
    created = client.post(
        TEAMS,
        json={"name": "Streetlights", "categories": ["lighting"], "wards": ["w1", "w2"], "capacity": 3, "strategy": "round_robin"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    team_id = created.json()["id"]
    assert (created.json()["version"], created.json()["notification_id"] is not None) == (1, True)
    for user_id, name, role in (("tech-a", "Ann Tech", "agent"), ("lead-1", "Lee Lead", "manager")):
        added = client.put(f"{TEAMS}/{team_id}/members/{user_id}", json={"display_name": name, "role": role}, headers=admin)
        assert added.status_code == 200, added.text
    projected()

    for role in ("agent", "manager", "liaison", "admin", "auditor"):
        team = listed(client, auth(role))[team_id]
        assert (team["name"], team["categories"], team["wards"]) == ("Streetlights", ["lighting"], ["w1", "w2"])
        assert (team["is_restricted"], team["capacity"], team["strategy"], team["version"]) == (False, 3, "round_robin", 3)
        assert members(team) == [("tech-a", "Ann Tech", "agent"), ("lead-1", "Lee Lead", "manager")]
    one = client.get(f"{TEAMS}/{team_id}", headers=auth("agent"))
    assert one.status_code == 200 and one.json()["name"] == "Streetlights"
    for role in ("reporter", "ward_councillor"):
        refused(client.get(TEAMS, headers=auth(role)), 403, "role_not_allowed")


def test_an_admin_changes_only_the_fields_sent_and_a_null_capacity_removes_the_limit(client, auth, projected):
    admin = auth("admin")
    team_id = new_team(client, admin, "Water", categories=["leak"], capacity=2)
    changed = client.patch(
        f"{TEAMS}/{team_id}", json={"name": "Water crews", "strategy": "least_open", "is_restricted": True}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    projected()
    team = listed(client, admin)[team_id]
    assert (team["name"], team["strategy"], team["is_restricted"], team["categories"], team["capacity"]) == (
        "Water crews", "least_open", True, ["leak"], 2,
    )  # fmt: skip

    unlimited = client.patch(f"{TEAMS}/{team_id}", json={"capacity": None}, headers=admin)
    assert unlimited.status_code == 200, unlimited.text
    same = client.patch(f"{TEAMS}/{team_id}", json={"capacity": None, "name": "Water crews"}, headers=admin)
    assert (same.json()["version"], same.json()["notification_id"]) == (3, None)  # nothing changed, nothing recorded
    projected()
    team = listed(client, admin)[team_id]
    assert (team["capacity"], team["version"]) == (None, 3)


def test_membership_is_added_renamed_and_removed_and_removing_a_stranger_is_refused(client, auth, projected):
    admin = auth("admin")
    team_id = new_team(client, admin, "Roads", members=CREWS)
    renamed = client.put(f"{TEAMS}/{team_id}/members/tech-a", json={"display_name": "Ann Techna", "role": "manager"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    removed = client.delete(f"{TEAMS}/{team_id}/members/tech-b", headers=admin)
    assert removed.status_code == 200, removed.text
    refused(client.delete(f"{TEAMS}/{team_id}/members/tech-b", headers=admin), 409, "not_a_member", "user_id")
    projected()
    # A member keeps their place in the team when renamed: round-robin follows this order.
    assert members(listed(client, admin)[team_id]) == [("tech-a", "Ann Techna", "manager"), ("tech-c", "Cat Tech", "agent")]


@pytest.mark.parametrize("role", ["manager", "agent", "liaison", "reporter", "ward_councillor", "auditor"])
def test_only_an_admin_creates_or_changes_a_team_or_its_members(client, auth, app, projected, role):
    team_id = new_team(client, auth("admin"), "Parks", members=CREWS[:1])
    projected()
    before = app.recorder.max_notification_id()
    caller = auth(role)
    refused(client.post(TEAMS, json={"name": "Mine"}, headers=caller), 403, "role_not_allowed")
    refused(client.patch(f"{TEAMS}/{team_id}", json={"name": "Mine"}, headers=caller), 403, "role_not_allowed")
    refused(client.put(f"{TEAMS}/{team_id}/members/me", json={"display_name": "Me"}, headers=caller), 403, "role_not_allowed")
    refused(client.delete(f"{TEAMS}/{team_id}/members/tech-a", headers=caller), 403, "role_not_allowed")
    refused(client.put(ROUTING_RULES, json={"rules": [], "fallback_team_id": team_id}, headers=caller), 403, "role_not_allowed")
    assert app.recorder.max_notification_id() == before
    projected()
    team = listed(client, auth("admin"))[team_id]
    assert (team["name"], members(team)) == ("Parks", [("tech-a", "Ann Tech", "agent")])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "T", "capacity": 0}, "capacity"),
        ({"name": "T", "capacity": -2}, "capacity"),
        ({"name": "T", "strategy": "random"}, "strategy"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"capacity": 2}, "name"),
        ({"name": "T", "categories": ["no spaces"]}, "categories"),
        ({"name": "T", "colour": "blue"}, "colour"),
    ],
    ids=["capacity-0", "capacity-negative", "unknown-strategy", "empty-name", "blank-name", "no-name", "bad-category", "unknown-field"],
)
def test_bad_team_input_is_400_naming_the_field_and_creates_nothing(client, auth, app, body, field):
    before = app.recorder.max_notification_id()
    response = client.post(TEAMS, json=body, headers=auth("admin"))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field, response.json()
    assert app.recorder.max_notification_id() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [({"capacity": 0}, "capacity"), ({"strategy": "fastest"}, "strategy"), ({"name": " "}, "name"), ({"members": []}, "members")],
    ids=["capacity-0", "unknown-strategy", "blank-name", "not-editable"],
)
def test_a_bad_change_to_a_team_is_400_naming_the_field_and_changes_nothing(client, auth, app, body, field):
    admin = auth("admin")
    team_id = new_team(client, admin, "Bins", capacity=4)
    before = app.recorder.max_notification_id()
    response = client.patch(f"{TEAMS}/{team_id}", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field, response.json()
    assert app.recorder.max_notification_id() == before


def test_a_team_member_must_be_staff_with_a_display_name(client, auth, app):
    admin = auth("admin")
    team_id = new_team(client, admin, "Bins")
    before = app.recorder.max_notification_id()
    response = client.put(f"{TEAMS}/{team_id}/members/cit-1", json={"display_name": "Citizen", "role": "reporter"}, headers=admin)
    assert (response.status_code, response.json()["field"]) == (400, "role"), response.text
    response = client.put(f"{TEAMS}/{team_id}/members/tech-1", json={"display_name": " ", "role": "agent"}, headers=admin)
    assert (response.status_code, response.json()["field"]) == (400, "display_name"), response.text
    assert app.recorder.max_notification_id() == before


def test_a_tenants_teams_are_invisible_and_untouchable_from_another_tenant(client, auth, projected, tenant):
    mine = new_team(client, auth("admin"), "Ours", members=CREWS[:1])
    other_admin = auth("admin", tenant_=tenant + "x")
    theirs = new_team(client, other_admin, "Theirs")
    projected()
    assert mine in listed(client, auth("admin")) and theirs not in listed(client, auth("admin"))
    assert theirs in listed(client, other_admin) and mine not in listed(client, other_admin)
    refused(client.get(f"{TEAMS}/{mine}", headers=other_admin), 404, "unknown_team")
    refused(client.patch(f"{TEAMS}/{mine}", json={"name": "Taken"}, headers=other_admin), 404, "unknown_team", "team_id")
    refused(client.put(f"{TEAMS}/{mine}/members/spy", json={"display_name": "Spy"}, headers=other_admin), 404, "unknown_team", "team_id")
    refused(client.delete(f"{TEAMS}/{mine}/members/tech-a", headers=other_admin), 404, "unknown_team", "team_id")
    body = refused(
        client.put(ROUTING_RULES, json={"rules": [{"name": "steal", "team_id": mine}]}, headers=other_admin), 400, "unknown_team"
    )
    assert body["field"] == "rules[0].team_id"
    projected()
    team = listed(client, auth("admin"))[mine]
    assert (team["name"], members(team)) == ("Ours", [("tech-a", "Ann Tech", "agent")])


def test_routing_rules_are_versioned_and_the_latest_version_is_what_staff_read(client, auth, projected):
    admin = auth("admin")
    lights, roads, desk = (new_team(client, admin, name) for name in ("Lights", "Roads", "Desk"))
    projected()
    assert client.get(ROUTING_RULES, headers=auth("manager")).json() == {
        "version": 0,
        "rules": [],
        "fallback_team_id": None,
        "set_by": None,
        "set_at": None,
    }

    first = set_rules(client, admin, [{"name": "lights", "team_id": lights, "category": "lighting"}], fallback_team_id=desk)
    second = set_rules(
        client,
        admin,
        [
            {"name": "urgent roads", "team_id": roads, "category": ["pothole", "road"], "priority": ["high", "urgent"], "ward": "w1"},
            {"name": "lights", "team_id": lights, "category": "lighting", "workflow": "municipal"},
        ],
        fallback_team_id=None,
    )
    assert (first["version"], second["version"]) == (1, 2)
    assert second["notification_id"] > first["notification_id"]
    projected()
    current = client.get(ROUTING_RULES, headers=auth("agent"))
    assert current.status_code == 200, current.text
    body = current.json()
    assert (body["version"], body["fallback_team_id"], body["set_by"]) == (2, None, "admin-1")
    assert body["rules"] == [
        {"name": "urgent roads", "team_id": roads, "category": ["pothole", "road"], "ward": ["w1"], "priority": ["high", "urgent"]},
        {"name": "lights", "team_id": lights, "category": ["lighting"], "workflow": ["municipal"]},
    ]
    refused(client.get(ROUTING_RULES, headers=auth("reporter")), 403, "role_not_allowed")


@pytest.mark.parametrize(
    ("rules", "fallback", "code", "field"),
    [
        ([{"name": "r", "team_id": "UNKNOWN"}], None, "unknown_team", "rules[0].team_id"),
        ([{"name": "ok", "team_id": "KNOWN"}, {"name": "r", "team_id": "UNKNOWN"}], None, "unknown_team", "rules[1].team_id"),
        ([], "UNKNOWN", "unknown_team", "fallback_team_id"),
        ([{"name": "same", "team_id": "KNOWN"}, {"name": "same", "team_id": "KNOWN", "category": "x"}], None, "duplicate_rule", "rules"),
        ([{"name": "r", "team_id": "not-a-uuid"}], None, "invalid_input", "rules[0].team_id"),
        ([{"name": "r", "team_id": "KNOWN", "priority": "whenever"}], None, "invalid_input", "rules[0].priority"),
        ([{"name": "r", "team_id": "KNOWN", "colour": "red"}], None, "invalid_input", "rules[0].colour"),
    ],
    ids=[
        "unknown-team",
        "second-rule-unknown-team",
        "unknown-fallback",
        "duplicate-names",
        "team-id-not-uuid",
        "unknown-priority",
        "unknown-criterion",
    ],
)
def test_routing_rules_naming_an_unknown_team_or_malformed_are_400_naming_the_field_and_keep_the_current_version(
    client, auth, app, projected, rules, fallback, code, field
):
    admin = auth("admin")
    known = new_team(client, admin, "Known")
    set_rules(client, admin, [{"name": "keep", "team_id": known}])
    swap = {"KNOWN": known, "UNKNOWN": str(uuid.uuid4())}
    rules = [{k: swap.get(v, v) if k == "team_id" else v for k, v in rule.items()} for rule in rules]
    before = app.recorder.max_notification_id()
    response = client.put(ROUTING_RULES, json={"rules": rules, "fallback_team_id": swap.get(fallback, fallback)}, headers=admin)
    body = refused(response, 400, code)
    assert body["field"] == field, body
    assert app.recorder.max_notification_id() == before
    projected()
    current = client.get(ROUTING_RULES, headers=admin).json()
    assert (current["version"], [r["name"] for r in current["rules"]]) == (1, ["keep"])


def test_a_team_past_its_hundredth_event_is_snapshotted_and_loads_with_its_members(app, actor):
    """Teams are snapshotted every 100 events (a round-robin pick is an event): the snapshot holds
    the members, phone and email included, and loading from it gives the team as it was."""
    from commands.structs import AddMember, CreateTeam
    from commands.teams import add_member, create_team

    admin = actor("admin")
    team_id = create_team(app, CreateTeam(actor=admin, name="Busy")).id
    for i in range(101):
        add_member(app, AddMember(actor=admin, team_id=team_id, user_id=f"u{i % 3}", display_name=f"Name {i}", phone="+27821234567"))
    assert app.snapshots is not None and list(app.snapshots.get(team_id))
    fresh = Docket(env=app.env)  # nothing cached: it loads from the snapshot
    try:
        loaded = fresh.repository.get(team_id)
    finally:
        fresh.close()
    assert {m.user_id: (m.display_name, m.phone) for m in loaded.members.values()} == {
        "u0": ("Name 99", "+27821234567"),
        "u1": ("Name 100", "+27821234567"),
        "u2": ("Name 98", "+27821234567"),
    }
