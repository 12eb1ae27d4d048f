"""Dashboard figures, summed over the buckets the dashboard projection keeps: the cost of a
request grows with days, categories and teams in range, never with the number of tickets."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection, Engine

from domain.errors import Invalid
from domain.permissions import Action, Actor, Role, require
from projections.dashboard import FIGURES, LIVE

buckets = LIVE.buckets
teams = LIVE.teams


class Scope(msgspec.Struct, frozen=True):
    """Which tickets count: one tenant, optionally one ward, opened within a date range (UTC days)."""

    tenant: str
    ward: str | None = None
    since: date | None = None
    until: date | None = None


class Metrics(msgspec.Struct, frozen=True):
    total_open: int
    total_resolved: int
    sla_compliance_percent: float | None
    avg_response_hours: float | None
    sla_breaches: int


class CategoryVolume(msgspec.Struct, frozen=True):
    category: str
    open: int
    resolved: int


class SLAFigures(msgspec.Struct, frozen=True):
    response_compliance_percent: float | None
    resolution_compliance_percent: float | None
    total_with_sla: int
    response_breaches: int
    resolution_breaches: int


class TeamWorkload(msgspec.Struct, frozen=True):
    team_id: str
    team_name: str
    open_count: int
    total_count: int


def dashboard_scope(actor: Actor, ward: str | None, since: date | None, until: date | None) -> Scope:
    """A ward councillor sees their own ward only, whatever they ask for."""
    require(actor, Action.READ_DASHBOARD)
    if since and until and since > until:
        raise Invalid("The date range ends before it starts.", code="bad_range", field="from")
    if actor.role is Role.WARD_COUNCILLOR:
        ward = actor.ward or ""
    return Scope(actor.tenant, ward, since, until)


def metrics(engine: Engine, scope: Scope) -> Metrics:
    with engine.connect() as conn:
        t = _totals(conn, scope)
    return Metrics(
        total_open=t["open"],
        total_resolved=t["resolved"],
        sla_compliance_percent=_percent(t["with_sla"] - t["breached"], t["with_sla"]),
        avg_response_hours=round(t["response_seconds"] / t["responded"] / 3600, 2) if t["responded"] else None,
        sla_breaches=t["response_breached"] + t["resolution_breached"],
    )


def volume(engine: Engine, scope: Scope) -> list[CategoryVolume]:
    query = _scoped(
        select(buckets.c.category, func.sum(buckets.c.open), func.sum(buckets.c.resolved)).group_by(buckets.c.category), scope
    ).order_by(buckets.c.category)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [CategoryVolume(category=c, open=int(o), resolved=int(r)) for c, o, r in rows if o or r]


def sla(engine: Engine, scope: Scope) -> SLAFigures:
    with engine.connect() as conn:
        t = _totals(conn, scope)
    return SLAFigures(
        response_compliance_percent=_percent(t["with_response_sla"] - t["response_breached"], t["with_response_sla"]),
        resolution_compliance_percent=_percent(t["with_resolution_sla"] - t["resolution_breached"], t["with_resolution_sla"]),
        total_with_sla=t["with_sla"],
        response_breaches=t["response_breached"],
        resolution_breaches=t["resolution_breached"],
    )


def workload(engine: Engine, scope: Scope) -> list[TeamWorkload]:
    """Per team that is not restricted: its open and all its tickets."""
    per_team = (
        _scoped(select(buckets.c.team_id, func.sum(buckets.c.open).label("open"), func.sum(buckets.c.total).label("total")), scope)
        .where(buckets.c.team_id != "")
        .group_by(buckets.c.team_id)
        .subquery()
    )
    query = (
        select(teams.c.id, teams.c.name, per_team.c.open, per_team.c.total)
        .join(per_team, per_team.c.team_id == teams.c.id)
        .where(teams.c.tenant == scope.tenant, teams.c.is_restricted.is_(False))
        .order_by(teams.c.name, teams.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [TeamWorkload(team_id=i, team_name=n, open_count=int(o), total_count=int(t)) for i, n, o, t in rows if t]


def _totals(conn: Connection, scope: Scope) -> dict[str, Any]:
    sums = [func.coalesce(func.sum(buckets.c[name]), 0).label(name) for name in (*FIGURES, "response_seconds")]
    row = conn.execute(_scoped(select(*sums), scope)).mappings().one()
    return {name: (float(value) if name == "response_seconds" else int(value)) for name, value in row.items()}


def _scoped(query: Select, scope: Scope) -> Select:
    query = query.where(buckets.c.tenant == scope.tenant)
    if scope.ward is not None:
        query = query.where(buckets.c.ward == scope.ward)
    if scope.since is not None:
        query = query.where(buckets.c.day >= scope.since)
    if scope.until is not None:
        query = query.where(buckets.c.day <= scope.until)
    return query


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None
