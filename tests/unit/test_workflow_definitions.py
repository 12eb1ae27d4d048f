"""Tenant-defined workflows: validated, versioned, and resolved by name."""

from __future__ import annotations

import copy

import pytest

from domain.errors import Forbidden, Invalid
from domain.tenant import TenantConfig
from domain.workflow import MUNICIPAL, workflow_from_definition
from tests.unit.helpers import TENANT, actor

ROADS = {
    "initial": "reported",
    "states": {"reported": "open", "inspecting": "open", "waiting_for_parts": "pending", "fixed": "resolved", "closed": "closed"},
    "transitions": [
        {"from": "reported", "to": "inspecting"},
        {"from": "inspecting", "to": "waiting_for_parts"},
        {"from": "waiting_for_parts", "to": "inspecting"},
        {"from": "inspecting", "to": "fixed", "requires": ["completion_notes"]},
        {"from": "fixed", "to": "closed", "roles": ["manager", "admin"]},
    ],
}


def broken(change) -> dict:
    definition = copy.deepcopy(ROADS)
    change(definition)
    return definition


@pytest.mark.parametrize(
    ("definition", "field", "words"),
    [
        (broken(lambda d: d.pop("initial")), "initial", "needs an initial state"),
        (broken(lambda d: d.update(initial="nowhere")), "initial", "not one of the states"),
        (broken(lambda d: d["transitions"].append({"from": "fixed", "to": "scrapped"})), "transitions[5].to", "transition to nowhere"),
        (broken(lambda d: d["states"].update(limbo="open")), "states", "limbo cannot be reached"),
        (broken(lambda d: d["states"].update(reported="urgent")), "states.reported", "category 'urgent'"),
        (broken(lambda d: d["transitions"][0].update(roles=["mayor"])), "transitions[0].roles", "Unknown roles mayor"),
        (broken(lambda d: d.update(states={})), "states", "at least one state"),
        (broken(lambda d: d.update(reporter_reply={"fixed": "nowhere"})), "reporter_reply", "both must be states"),
    ],
)
def test_a_broken_definition_is_refused_naming_the_problem(definition, field, words):
    with pytest.raises(Invalid) as refused:
        workflow_from_definition("roads", 1, definition)
    assert refused.value.field == field
    assert words in refused.value.message


def test_a_definition_round_trips_through_its_stored_form():
    workflow = workflow_from_definition("roads", 3, ROADS)
    again = workflow_from_definition("roads", 3, workflow.to_definition())
    assert again == workflow
    assert workflow.category("waiting_for_parts") == "pending"


def test_each_new_definition_is_a_new_version_and_the_same_one_again_changes_nothing():
    config = TenantConfig(tenant=TENANT)
    admin = actor("admin")
    assert config.define_workflow(admin, "roads", ROADS).version == 1
    assert config.define_workflow(admin, "roads", ROADS).version == 1
    changed = broken(lambda d: d["transitions"].append({"from": "closed", "to": "reported"}))
    assert config.define_workflow(admin, "roads", changed).version == 2
    assert config.workflow("roads").version == 2
    assert [type(e).__name__ for e in config.collect_events()] == ["Started", "WorkflowDefined", "WorkflowDefined"]


def test_a_tenants_own_municipal_workflow_replaces_the_built_in_one_as_version_2():
    config = TenantConfig(tenant=TENANT)
    assert config.workflow() is MUNICIPAL
    config.define_workflow(actor("admin"), "municipal", ROADS)
    assert config.workflow().version == 2
    assert config.workflow().initial == "reported"


def test_the_default_workflow_is_the_tenants_choice_else_municipal_and_must_exist():
    config = TenantConfig(tenant=TENANT)
    with pytest.raises(Invalid) as unknown:
        config.change_settings(actor("admin"), {"default_workflow": "roads"})
    assert (unknown.value.code, unknown.value.field) == ("unknown_workflow", "workflow")
    config.define_workflow(actor("admin"), "roads", ROADS)
    config.change_settings(actor("admin"), {"default_workflow": "roads"})
    assert config.workflow().name == "roads"
    assert config.workflow("helpdesk").name == "helpdesk"


@pytest.mark.parametrize("role", ["reporter", "agent", "manager", "ward_councillor", "liaison", "auditor"])
def test_only_an_admin_defines_workflows_or_changes_settings(role):
    config = TenantConfig(tenant=TENANT)
    with pytest.raises(Forbidden):
        config.define_workflow(actor(role), "roads", ROADS)
    with pytest.raises(Forbidden):
        config.change_settings(actor(role), {"reporter_reply_moves_ticket": True})
    assert [type(e).__name__ for e in config.collect_events()] == ["Started"]
