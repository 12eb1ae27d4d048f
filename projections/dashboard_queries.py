"""Dashboard figures, summed over the rollups the dashboard projection keeps: whole months, and
days only at the edges of a range, so the cost of a request is bounded by wards, months,
categories and teams, never by the number of tickets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy import Numeric, Select, and_, bindparam, cast, func, or_, select

from domain.errors import Forbidden, Invalid
from domain.permissions import Action, Actor, Role, require
from projections.dashboard import FIGURES, LIVE
from projections.reading import Connectable
from projections.sql import Prepared

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
    rows = _figure_rows(engine, scope, "category", _per_category)
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
    rows = _figure_rows(engine, scope, "team", _per_team)
    return [TeamWorkload(team_id=i, team_name=n, open_count=int(o), total_count=int(t)) for i, n, o, t in rows if t]


def totals(engine: Connectable, scope: Scope) -> dict[str, Any]:
    """Every figure summed over the scope, the seconds behind avg_response_hours included."""
    (row,) = _figure_rows(engine, scope, "all", _sums)
    return {name: (float(value) if name == "response_seconds" else int(value)) for name, value in row._mapping.items()}


def _sums(where: Any) -> Select:
    """Each figure summed; the seconds as exact numerics, so that the total does not depend on the
    order the plan reads the rows in (a float sum does, in its last digits)."""
    seconds = func.coalesce(func.sum(cast(rollups.c.response_seconds, Numeric)), 0).label("response_seconds")
    return select(*(func.coalesce(func.sum(rollups.c[name]), 0).label(name) for name in FIGURES), seconds).where(where)


def _per_category(where: Any) -> Select:
    r = rollups.c
    return select(r.key, func.sum(r.open), func.sum(r.resolved)).where(where).group_by(r.key).order_by(r.key)


def _per_team(where: Any) -> Select:
    r = rollups.c
    per_team = select(r.key.label("team_id"), func.sum(r.open).label("open"), func.sum(r.total).label("total")).where(where).group_by(r.key)
    counted = per_team.subquery()
    return (
        select(teams.c.id, teams.c.name, counted.c.open, counted.c.total)
        .join(counted, counted.c.team_id == teams.c.id)
        .where(teams.c.tenant == bindparam("tenant"), teams.c.is_restricted.is_(False))
        .order_by(teams.c.name, teams.c.id)
    )


# A figure's statement per shape of scope (a ward or not, which ends its range has), compiled once:
# a request then pays for its rows, not for building, keying and compiling a statement.
_statements: dict[tuple[Any, ...], Prepared] = {}


def _figure_rows(engine: Connectable, scope: Scope, dim: str, build: Callable[[Any], Select]) -> list[Any]:
    shape = _shape(scope)
    key = (build, dim, shape)
    if (statement := _statements.get(key)) is None:
        statement = _statements.setdefault(key, Prepared(build(_within(shape, dim))))
    with engine.connect() as conn:
        return statement.run(conn, **_values(scope)).all()


def _scoped(query: Select, scope: Scope, dim: str) -> Select:
    """The query over the rollup rows that cover the scope exactly once, its values bound."""
    return query.where(_within(_shape(scope), dim)).params(**_values(scope))


Shape = tuple[bool, tuple[bool, bool] | None, tuple[tuple[bool, bool], ...]]  # a ward; the months' ends; each day span's ends


def _shape(scope: Scope) -> Shape:
    months, days = covering(scope.since, scope.until)
    return scope.ward is not None, _ends(months), tuple(_ends(span) for span in days)


def _ends(span: Span | None) -> tuple[bool, bool] | None:
    return None if span is None else (span[0] is not None, span[1] is not None)


def _within(shape: Shape, dim: str) -> Any:
    """The rollup rows that cover a scope of this shape exactly once: whole months inside the range,
    days at its edges. Parameters: tenant, ward, month_start/end, day<i>_start/end (as _values names them)."""
    r = rollups.c
    has_ward, months, days = shape
    parts = [and_(r.grain == "day", *_bounded(r.period, f"day{i}", ends)) for i, ends in enumerate(days)]
    if months is not None:
        parts.append(and_(r.grain == "month", *_bounded(r.period, "month", months)))
    return and_(r.tenant == bindparam("tenant"), r.dim == dim, *([r.ward == bindparam("ward")] if has_ward else []), or_(*parts))


def _bounded(column: Any, name: str, ends: tuple[bool, bool]) -> list[Any]:
    has_start, has_end = ends
    return ([column >= bindparam(f"{name}_start")] if has_start else []) + ([column < bindparam(f"{name}_end")] if has_end else [])


def _values(scope: Scope) -> dict[str, Any]:
    months, days = covering(scope.since, scope.until)
    spans = {f"day{i}": span for i, span in enumerate(days)} | ({"month": months} if months is not None else {})
    values: dict[str, Any] = {"tenant": scope.tenant, "ward": scope.ward}
    for name, (start, end) in spans.items():
        values |= {f"{name}_start": start, f"{name}_end": end}
    return {name: value for name, value in values.items() if value is not None}


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


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None
