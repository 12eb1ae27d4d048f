"""Dashboard figures, summed over the rollups the dashboard projection keeps: whole months, and
days only at the edges of a range, so the cost of a request is bounded by wards, months,
categories and teams, never by the number of tickets."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy import Select, and_, func, or_, select

from domain.errors import Forbidden, Invalid
from domain.permissions import Action, Actor, Role, require
from projections.dashboard import FIGURES, LIVE
from projections.reading import Connectable

rollups = LIVE.rollups
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
        if not actor.ward:  # else they would read the figures of the tickets that name no ward
            raise Forbidden("Your token names no ward; a ward councillor reads their own ward's figures.", code="no_ward")
        ward = actor.ward
    return Scope(actor.tenant, ward, since, until)


def metrics(engine: Connectable, scope: Scope) -> Metrics:
    t = totals(engine, scope)
    return Metrics(
        total_open=t["open"],
        total_resolved=t["resolved"],
        sla_compliance_percent=_percent(t["with_sla"] - t["breached"], t["with_sla"]),
        avg_response_hours=round(t["response_seconds"] / t["responded"] / 3600, 2) if t["responded"] else None,
        sla_breaches=t["response_breached"] + t["resolution_breached"],
    )


def volume(engine: Connectable, scope: Scope) -> list[CategoryVolume]:
    r = rollups.c
    query = _scoped(select(r.key, func.sum(r.open), func.sum(r.resolved)), scope, "category").group_by(r.key).order_by(r.key)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [CategoryVolume(category=c, open=int(o), resolved=int(r)) for c, o, r in rows if o or r]


def sla(engine: Connectable, scope: Scope) -> SLAFigures:
    t = totals(engine, scope)
    return SLAFigures(
        response_compliance_percent=_percent(t["with_response_sla"] - t["response_breached"], t["with_response_sla"]),
        resolution_compliance_percent=_percent(t["with_resolution_sla"] - t["resolution_breached"], t["with_resolution_sla"]),
        total_with_sla=t["with_sla"],
        response_breaches=t["response_breached"],
        resolution_breaches=t["resolution_breached"],
    )


def workload(engine: Connectable, scope: Scope) -> list[TeamWorkload]:
    """Per team that is not restricted: its open and all its tickets."""
    r = rollups.c
    per_team = (
        _scoped(select(r.key.label("team_id"), func.sum(r.open).label("open"), func.sum(r.total).label("total")), scope, "team")
        .group_by(r.key)
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


def totals(engine: Connectable, scope: Scope) -> dict[str, Any]:
    """Every figure summed over the scope, the seconds behind avg_response_hours included."""
    sums = [func.coalesce(func.sum(rollups.c[name]), 0).label(name) for name in (*FIGURES, "response_seconds")]
    with engine.connect() as conn:
        row = conn.execute(_scoped(select(*sums), scope, "all")).mappings().one()
    return {name: (float(value) if name == "response_seconds" else int(value)) for name, value in row.items()}


def _scoped(query: Select, scope: Scope, dim: str) -> Select:
    """The rollup rows that cover the scope exactly once: whole months inside the range, days at its edges."""
    r = rollups.c
    query = query.where(r.tenant == scope.tenant, r.dim == dim)
    if scope.ward is not None:
        query = query.where(r.ward == scope.ward)
    months, days = covering(scope.since, scope.until)
    parts = [and_(r.grain == "day", *_within(r.period, start, end)) for start, end in days]
    if months is not None:
        parts.append(and_(r.grain == "month", *_within(r.period, *months)))
    return query.where(or_(*parts))


Span = tuple[date | None, date | None]  # half-open [start, end); None: unbounded


def covering(since: date | None, until: date | None) -> tuple[Span | None, list[Span]]:
    """Whole months inside [since, until] and the day spans left at its edges, which together
    cover every day of the range once."""
    end = None if until is None else until + timedelta(days=1)
    first = None if since is None else since if since.day == 1 else _next_month(since)
    last = None if end is None else end if end.day == 1 else end.replace(day=1)
    if first is not None and last is not None and first >= last:
        return None, [(since, end)]
    edges = ([(since, first)] if since is not None and since != first else []) + ([(last, end)] if end is not None and last != end else [])
    return (first, last), edges


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _within(column: Any, start: date | None, end: date | None) -> list[Any]:
    return ([] if start is None else [column >= start]) + ([] if end is None else [column < end])


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None
