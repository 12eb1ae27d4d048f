"""A tenant's configuration: its own workflows, each versioned, and its ticket settings."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Invalid
from domain.ids import tenant_aggregate_id
from domain.permissions import AGENT_SCOPES, Action, Actor, require
from domain.workflow import BUILT_IN, Workflow, workflow_from_definition, workflow_of

WORKFLOW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_WORKFLOW = "municipal"
SWITCHES = ("reporter_reply_moves_ticket", "auto_route_on_open")
# Reports in these categories are sensitive whatever the reporter said (gender-based violence).
DEFAULT_SENSITIVE_CATEGORIES = ("gbv",)
MAX_SENSITIVE_CATEGORIES = 100
SETTINGS = ("default_workflow", *SWITCHES, "sensitive_categories", "agent_scope")


class TenantConfig(Aggregate):
    @staticmethod
    def create_id(tenant: str) -> UUID:
        return tenant_config_id(tenant)

    @event("Started")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.definitions: dict[str, tuple[int, dict[str, Any]]] = {}  # name -> latest (version, definition)
        self.default_workflow: str | None = None
        self.reporter_reply_moves_ticket = False
        self.auto_route_on_open = False
        self.sensitive_categories: list[str] = list(DEFAULT_SENSITIVE_CATEGORIES)
        self.agent_scope: str | None = None  # None: "assigned" for field-service tickets, "team" for others

    def is_sensitive_category(self, category: str) -> bool:
        return category.strip().lower() in self.sensitive_categories

    def workflow(self, name: str | None = None) -> Workflow:
        """The named workflow, else the tenant's default, else municipal; the tenant's own version first."""
        name = name or self.default_workflow or DEFAULT_WORKFLOW
        if name in self.definitions:
            version, definition = self.definitions[name]
            return workflow_of(name, version, definition)
        if name in BUILT_IN:
            return BUILT_IN[name]
        known = ", ".join(sorted({*BUILT_IN, *self.definitions}))
        raise Invalid(f"Unknown workflow '{name}'; known: {known}.", code="unknown_workflow", field="workflow")

    def define_workflow(self, actor: Actor, name: str, definition: dict[str, Any]) -> Workflow:
        """A new version of the named workflow; submitting the current definition again changes nothing."""
        require(actor, Action.DEFINE_WORKFLOWS)
        if not WORKFLOW_NAME.match(name):
            raise Invalid(
                "A workflow name is 1-64 lower-case letters, digits and _, starting with a letter.", code="invalid_workflow", field="name"
            )
        current = self.workflow(name) if name in self.definitions or name in BUILT_IN else None
        checked = workflow_from_definition(name, (current.version if current else 0) + 1, definition)
        if current and current.to_definition() == checked.to_definition():
            return current
        self._workflow_defined(
            tenant=self.tenant,
            actor_id=actor.id,
            actor_role=actor.role.value,
            name=name,
            version=checked.version,
            definition=checked.to_definition(),
        )
        return checked

    @event("WorkflowDefined")
    def _workflow_defined(
        self, *, tenant: str, actor_id: str, actor_role: str, name: str, version: int, definition: dict[str, Any]
    ) -> None:
        self.definitions[name] = (version, definition)

    def change_settings(self, actor: Actor, changes: dict[str, Any]) -> None:
        """Records the settings whose value changes; `None` leaves a setting as it is."""
        require(actor, Action.DEFINE_WORKFLOWS)
        checked = {name: _setting(self, name, value) for name, value in changes.items() if value is not None}
        diff = {name: value for name, value in checked.items() if getattr(self, name) != value}
        if diff:
            self._settings_changed(tenant=self.tenant, actor_id=actor.id, actor_role=actor.role.value, changes=diff)

    @event("SettingsChanged")
    def _settings_changed(self, *, tenant: str, actor_id: str, actor_role: str, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)


def _setting(config: TenantConfig, name: str, value: Any) -> Any:
    if name == "default_workflow":
        return config.workflow(value).name
    if name in SWITCHES:
        if not isinstance(value, bool):
            raise Invalid(f"{name} is true or false.", code="invalid_setting", field=name)
        return value
    if name == "sensitive_categories":
        return _categories(value)
    if name == "agent_scope":
        if value not in AGENT_SCOPES:
            raise Invalid(f"agent_scope is one of {', '.join(AGENT_SCOPES)}.", code="invalid_setting", field=name)
        return value
    raise Invalid(f"Unknown setting '{name}'; settings: {', '.join(SETTINGS)}.", code="invalid_setting", field=name)


def _categories(value: Any) -> list[str]:
    """Category names, lower case, each once, in the order given."""
    if not isinstance(value, list) or len(value) > MAX_SENSITIVE_CATEGORIES:
        raise Invalid(
            f"sensitive_categories is a list of at most {MAX_SENSITIVE_CATEGORIES} category names.",
            code="invalid_setting",
            field="sensitive_categories",
        )
    names = [name.strip().lower() if isinstance(name, str) else "" for name in value]
    if not all(0 < len(name) <= 64 for name in names):
        raise Invalid("Each sensitive category is a name of 1-64 characters.", code="invalid_setting", field="sensitive_categories")
    return list(dict.fromkeys(names))


def tenant_config_id(tenant: str) -> UUID:
    return tenant_aggregate_id("tenant-config", tenant)
