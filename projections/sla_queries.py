"""Queries over SLA policies and the deadlines the scheduler watches."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import ColumnElement, and_, func, select

from domain.permissions import Action, Actor, require
from projections.reading import Connectable
from projections.ticket_tables import LIVE

policies = LIVE.sla_policies
tickets = LIVE.tickets


class SLAPoliciesView(msgspec.Struct, frozen=True):
    version: int
    policies: list[dict[str, Any]]
    set_by: str | None = None
    set_at: datetime | None = None


class OpenDeadline(msgspec.Struct, frozen=True):
    ticket_id: UUID
    tenant: str
    kind: str
    due: datetime


def current_sla_policies(engine: Connectable, actor: Actor) -> SLAPoliciesView:
    require(actor, Action.READ_WORKFLOWS)
    query = select(policies).where(policies.c.tenant == actor.tenant).order_by(policies.c.version.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return SLAPoliciesView(version=0, policies=[])
    return SLAPoliciesView(version=row["version"], policies=row["policies"], set_by=row["set_by"], set_at=row["set_at"])


def open_deadlines(engine: Connectable) -> list[OpenDeadline]:
    """Every deadline not yet met, breached or paused, of every tenant: what the scheduler holds a timer for."""
    found = []
    with engine.connect() as conn:
        for kind in ("response", "resolution"):
            query = select(tickets.c.id, tickets.c.tenant, tickets.c[f"{kind}_due"]).where(_open(kind))
            found += [OpenDeadline(ticket_id=i, tenant=tenant, kind=kind, due=due) for i, tenant, due in conn.execute(query)]
    return found


def count_open_deadlines(engine: Connectable) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(select(func.count()).select_from(tickets).where(_open(kind))).scalar_one() for kind in ("response", "resolution")
        )


def _open(kind: str) -> ColumnElement[bool]:
    t = tickets.c
    return and_(
        t[f"{kind}_due"].isnot(None),
        t[f"{kind}_met_at"].is_(None),
        t[f"{kind}_breached"].is_(False),
        t.sla_paused_at.is_(None),
        t.archived.is_(False),
    )
