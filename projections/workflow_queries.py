"""The workflows a tenant's tickets can be opened under: the built-in ones and its own."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.application import LRUCache
from sqlalchemy import func, select

from domain.errors import NotFound
from domain.permissions import Action, Actor, require
from domain.tenant import DEFAULT_SENSITIVE_CATEGORIES, DEFAULT_WORKFLOW
from domain.workflow import BUILT_IN
from projections.reading import Connectable
from projections.ticket_tables import LIVE

workflows = LIVE.workflows
settings = LIVE.tenant_settings


class WorkflowView(msgspec.Struct, frozen=True):
    name: str
    version: int
    built_in: bool
    is_default: bool
    definition: dict[str, Any]
    defined_by: str | None = None
    defined_at: datetime | None = None


class TenantSettingsView(msgspec.Struct, frozen=True):
    default_workflow: str = DEFAULT_WORKFLOW
    reporter_reply_moves_ticket: bool = False
    auto_route_on_open: bool = False
    sensitive_categories: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SENSITIVE_CATEGORIES))
    agent_scope: str | None = None  # None: "assigned" on field-service tickets, "team" on others


def list_workflows(engine: Connectable, actor: Actor) -> list[WorkflowView]:
    """Each workflow at its latest version; a tenant's own version of a built-in name replaces it."""
    require(actor, Action.READ_WORKFLOWS)
    default = tenant_settings(engine, actor).default_workflow
    versions = (
        select(workflows.c.name, func.max(workflows.c.version).label("version"))
        .where(workflows.c.tenant == actor.tenant)
        .group_by(workflows.c.name)
        .subquery()
    )
    latest = (
        select(workflows)
        .join(versions, (workflows.c.name == versions.c.name) & (workflows.c.version == versions.c.version))
        .where(workflows.c.tenant == actor.tenant)
    )
    with engine.connect() as conn:
        own = {row["name"]: row for row in conn.execute(latest).mappings()}
    views = {
        name: WorkflowView(name=name, version=w.version, built_in=True, is_default=name == default, definition=w.to_definition())
        for name, w in BUILT_IN.items()
    }
    for name, row in own.items():
        views[name] = WorkflowView(
            name=name,
            version=row["version"],
            built_in=False,
            is_default=name == default,
            definition=row["definition"],
            defined_by=row["defined_by"],
            defined_at=row["defined_at"],
        )
    return sorted(views.values(), key=lambda view: view.name)


def get_workflow(engine: Connectable, actor: Actor, name: str) -> WorkflowView:
    for view in list_workflows(engine, actor):
        if view.name == name:
            return view
    raise NotFound(f"No workflow '{name}' exists in this tenant.", code="workflow_not_found")


def tenant_settings(engine: Connectable, actor: Actor) -> TenantSettingsView:
    query = select(settings).where(settings.c.tenant == actor.tenant)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return TenantSettingsView()
    return TenantSettingsView(
        default_workflow=row["default_workflow"] or DEFAULT_WORKFLOW,
        reporter_reply_moves_ticket=row["reporter_reply_moves_ticket"],
        auto_route_on_open=row["auto_route_on_open"],
        sensitive_categories=row["sensitive_categories"] if row["sensitive_categories"] is not None else list(DEFAULT_SENSITIVE_CATEGORIES),
        agent_scope=row["agent_scope"],
    )


BUILT_IN_STATUSES = frozenset().union(*(w.states for w in BUILT_IN.values()))
_KNOWN: LRUCache[str, frozenset[str]] = LRUCache(maxsize=4096)  # per tenant, the statuses last read


def known_statuses(engine: Connectable, tenant: str, asked: Iterable[str] = ()) -> frozenset[str]:
    """Every status a ticket of the tenant can be in: the states of the built-in workflows and of
    every version of its own, since a ticket stays in the state its workflow version had. So a
    tenant's statuses only ever grow: when every one `asked` about is known already (a list
    filtered by status, at each read), the database is not asked again."""
    asked = set(asked)
    try:
        known = _KNOWN.get(tenant)
    except KeyError:
        known = BUILT_IN_STATUSES
    if asked and asked <= known:
        return known
    states = func.jsonb_object_keys(workflows.c.definition["states"])
    query = select(states).where(workflows.c.tenant == tenant).distinct()
    with engine.connect() as conn:
        known = BUILT_IN_STATUSES.union(conn.execute(query).scalars())
    _KNOWN.put(tenant, known)
    return known
