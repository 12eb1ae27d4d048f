"""Latency of the dashboard endpoints with many tickets in the store, each beside computing the
same figures with GROUP BY over a plain tickets table in the same database, as a ratio.

    .venv/bin/python bench/dashboard.py [--sizes 100000,1000000] [--requests N]

The tickets are generated straight into a plain table, `bench_tickets` (opening a million through
the event store would take hours), and the dashboard projection's own tables are filled from it
with the figures its `contribution()` gives; the run aborts unless the day rollups of a few days hold
what `contribution()` makes of those days' tickets and every endpoint answers what the GROUP BY
baseline computes. The database is a scratch one, as for bench/load.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself, so that `commands` is the project's package

import httpx  # noqa: E402
import msgspec  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from bench.common import CIPHER_KEY, PROGRESS_EVERY, bearer, database_server, running_api, safe  # noqa: E402
from commands.app import Docket, eventsourcing_env  # noqa: E402
from projections import dashboard_queries  # noqa: E402
from projections.dashboard import FIGURES, contribution, rollup_keys  # noqa: E402
from projections.dashboard_queries import CategoryVolume, Metrics, Scope, SLAFigures, TeamWorkload  # noqa: E402
from projections.operations import ensure_tables  # noqa: E402
from projections.sql import engine_for  # noqa: E402
from tests.servers import fresh_database  # noqa: E402

log = logging.getLogger("bench")

DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_REQUESTS = 200
DEFAULT_BASELINE_REQUESTS = 20  # a GROUP BY over a million rows takes a while
TARGET_FLAT, TARGET_SPEEDUP, TARGET_P99 = 1.5, 100.0, 0.020

TENANT = "bench-city"
EMPTY_TENANT = "bench-empty"  # no tickets: its /metrics costs what HTTP, the token and one lookup cost
FIRST_DAY, DAYS = date(2023, 1, 1), 730
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
WARD = "ward-03"  # a ward of middling size
SCOPES = {
    "tenant": Scope(TENANT),
    "ward": Scope(TENANT, ward=WARD),
    "90 days": Scope(TENANT, since=LAST_DAY - timedelta(days=89), until=LAST_DAY),
}
VIEWS = ("metrics", "volume", "sla", "workload")

# Each category is routed to one team (its index in TEAMS); Liaison, the last, is restricted and
# holds the sensitive reports and some of the safety ones.
CATEGORIES = ["roads", "water", "lighting", "waste", "parks", "drainage", "noise", "traffic", "buildings", "animals", "safety", "other"]  # fmt: skip
ROUTED_TO = [0, 1, 2, 3, 4, 1, 6, 0, 5, 4, 6, 6]
TEAMS = [("Roads", False), ("Water", False), ("Electrical", False), ("Waste", False), ("Parks", False),
         ("Building control", False), ("Customer care", False), ("Liaison", True)]  # fmt: skip
TEAM_IDS = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"docket-bench/team/{name}")) for name, _ in TEAMS]
LIAISON = TEAM_IDS[-1]

TICKETS_TABLE = """
CREATE TABLE bench_teams (id text PRIMARY KEY, tenant text NOT NULL, name text NOT NULL, is_restricted boolean NOT NULL);
CREATE TABLE bench_tickets (
    id bigint PRIMARY KEY,
    tenant text NOT NULL,
    ward text NOT NULL,                 -- '' for no ward, as in the dashboard's rollups
    category text NOT NULL,
    team_id text NOT NULL,              -- '' for no team
    created_at timestamptz NOT NULL,
    status_category text NOT NULL,      -- open, pending, resolved, closed
    is_sensitive boolean NOT NULL,
    archived boolean NOT NULL,
    has_response_sla boolean NOT NULL,
    has_resolution_sla boolean NOT NULL,
    response_breached boolean NOT NULL,
    resolution_breached boolean NOT NULL,
    response_seconds double precision   -- null until the first staff response
)"""
TICKETS_INDEXES = """
CREATE INDEX bench_tickets_tenant_created ON bench_tickets (tenant, created_at);
CREATE INDEX bench_tickets_tenant_ward_created ON bench_tickets (tenant, ward, created_at)"""

# Tickets first..last, each from its own random draws: wards and categories skewed (a few big
# ones, a long tail), opening times uniform over the two years, the older a ticket the likelier
# resolved, 3% sensitive, 1% archived, 12% unassigned, SLA clocks on most, some breached.
# Whole seconds, so that summing response times is exact in any order.
GENERATE = """
WITH draw AS MATERIALIZED (
    SELECT i, random() AS w, random() AS c, random() AS t, random() AS tm, random() AS s, random() AS st,
           random() AS sla, random() AS b1, random() AS b2, random() AS resp, random() AS rv, random() AS a
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
), ticket AS (
    SELECT draw.*, 1 + floor(12 * power(c, 1.6))::int AS cat, s < 0.03 AS sensitive,
           %(start)s::timestamptz + floor(t * %(days)s * 86400) * interval '1 second' AS created_at,
           least(0.97, 0.15 + (1 - t) * %(days)s / 40.0) AS p_done
    FROM draw
)
INSERT INTO bench_tickets
SELECT i, %(tenant)s,
       CASE WHEN w < 0.02 THEN '' ELSE 'ward-' || lpad((1 + floor(19 * power((w - 0.02) / 0.98, 1.5)))::int::text, 2, '0') END,
       (%(categories)s::text[])[cat],
       CASE WHEN sensitive THEN CASE WHEN tm < 0.8 THEN %(liaison)s ELSE '' END
            WHEN tm < 0.12 THEN ''
            WHEN (%(categories)s::text[])[cat] = 'safety' AND tm < 0.35 THEN %(liaison)s
            WHEN tm < 0.20 THEN (%(teams)s::text[])[1 + floor((tm - 0.12) / 0.08 * 7)::int]
            ELSE (%(teams)s::text[])[1 + (%(routed)s::int[])[cat]] END,
       created_at,
       CASE WHEN st < p_done * 0.6 THEN 'closed' WHEN st < p_done THEN 'resolved'
            WHEN st < p_done + (1 - p_done) * 0.8 THEN 'open' ELSE 'pending' END,
       sensitive, a < 0.01, sla < 0.8, sla < 0.65, sla < 0.8 AND b1 < 0.08, sla < 0.65 AND b2 < 0.12,
       CASE WHEN st >= p_done AND resp < 0.35 THEN NULL ELSE round(-ln(1 - rv) * 4 * 3600) END
FROM ticket"""

# What the dashboard projection's `contribution()` makes of each ticket, summed per rollup row: a
# sensitive, archived or restricted-team ticket adds nothing (`_add` skips an all-zero
# contribution); otherwise open/resolved by status category, total 1, with_sla if either clock
# runs, breached if either is breached, responded and its seconds once responded. Each ticket adds
# to the rows `rollup_keys()` names: per UTC day and per month it was opened in, per ward, for the
# tenant ("all"), its category and its team. Applying the projection to events that ended in these
# tickets would leave exactly these sums (it may also leave all-zero rows behind, which add nothing
# to any figure). Each run checks it: `check_contribution` against contribution() and rollup_keys()
# themselves on a few days' tickets, `check_figures` every endpoint against the GROUP BY.
# Under the lock docket's processes take for their schema work: an API process still starting
# grants on these tables, and a GRANT beside the TRUNCATE failed with "tuple concurrently updated".
BUILD_ROLLUPS = """
SELECT pg_advisory_xact_lock(hashtext('docket.schema'));
TRUNCATE dashboard_rollups, dashboard_teams;
INSERT INTO dashboard_teams (id, tenant, name, is_restricted) SELECT id, tenant, name, is_restricted FROM bench_teams;
INSERT INTO dashboard_rollups (tenant, dim, grain, ward, period, key, open, resolved, total, with_sla, with_response_sla,
                               with_resolution_sla, response_breached, resolution_breached, breached, responded, response_seconds)
SELECT t.tenant, d.dim, g.grain, t.ward, g.period, d.key,
       count(*) FILTER (WHERE t.status_category IN ('open', 'pending')),
       count(*) FILTER (WHERE t.status_category IN ('resolved', 'closed')),
       count(*),
       count(*) FILTER (WHERE t.has_response_sla OR t.has_resolution_sla),
       count(*) FILTER (WHERE t.has_response_sla),
       count(*) FILTER (WHERE t.has_resolution_sla),
       count(*) FILTER (WHERE t.response_breached),
       count(*) FILTER (WHERE t.resolution_breached),
       count(*) FILTER (WHERE t.response_breached OR t.resolution_breached),
       count(t.response_seconds),
       coalesce(sum(t.response_seconds), 0)
FROM bench_tickets t LEFT JOIN bench_teams tm ON tm.id = t.team_id
CROSS JOIN LATERAL (VALUES ('day', (t.created_at AT TIME ZONE 'UTC')::date),
                           ('month', date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date)) AS g (grain, period)
CROSS JOIN LATERAL (VALUES ('all', ''), ('category', t.category), ('team', t.team_id)) AS d (dim, key)
WHERE NOT t.is_sensitive AND NOT t.archived AND NOT coalesce(tm.is_restricted, false) AND (d.dim <> 'team' OR t.team_id <> '')
GROUP BY 1, 2, 3, 4, 5, 6"""


# The baseline: the same figures with GROUP BY over the plain tickets table, every request.

COUNTED = "NOT t.is_sensitive AND NOT t.archived AND NOT coalesce(tm.is_restricted, false)"
TOTALS = f"""
SELECT count(*) FILTER (WHERE t.status_category IN ('open', 'pending')) AS open,
       count(*) FILTER (WHERE t.status_category IN ('resolved', 'closed')) AS resolved,
       count(*) FILTER (WHERE t.has_response_sla OR t.has_resolution_sla) AS with_sla,
       count(*) FILTER (WHERE t.has_response_sla) AS with_response_sla,
       count(*) FILTER (WHERE t.has_resolution_sla) AS with_resolution_sla,
       count(*) FILTER (WHERE t.response_breached) AS response_breached,
       count(*) FILTER (WHERE t.resolution_breached) AS resolution_breached,
       count(*) FILTER (WHERE t.response_breached OR t.resolution_breached) AS breached,
       count(t.response_seconds) AS responded,
       coalesce(sum(t.response_seconds), 0) AS response_seconds
FROM bench_tickets t LEFT JOIN bench_teams tm ON tm.id = t.team_id
WHERE {COUNTED} AND {{where}}"""
VOLUME = f"""
SELECT t.category, count(*) FILTER (WHERE t.status_category IN ('open', 'pending')),
       count(*) FILTER (WHERE t.status_category IN ('resolved', 'closed'))
FROM bench_tickets t LEFT JOIN bench_teams tm ON tm.id = t.team_id
WHERE {COUNTED} AND {{where}}
GROUP BY t.category ORDER BY t.category"""
WORKLOAD = """
SELECT tm.id, tm.name, count(*) FILTER (WHERE t.status_category IN ('open', 'pending')), count(*)
FROM bench_tickets t JOIN bench_teams tm ON tm.id = t.team_id
WHERE NOT t.is_sensitive AND NOT t.archived AND NOT tm.is_restricted AND tm.tenant = %(tenant)s AND {where}
GROUP BY tm.id, tm.name ORDER BY tm.name, tm.id"""


def tickets_where(scope: Scope) -> tuple[str, dict[str, Any]]:
    conditions, params = ["t.tenant = %(tenant)s"], {"tenant": scope.tenant}
    if scope.ward is not None:
        conditions.append("t.ward = %(ward)s")
        params["ward"] = scope.ward
    if scope.since is not None:
        conditions.append("t.created_at >= %(since)s")
        params["since"] = datetime.combine(scope.since, clock(), UTC)
    if scope.until is not None:
        conditions.append("t.created_at < %(before)s")
        params["before"] = datetime.combine(scope.until + timedelta(days=1), clock(), UTC)
    return " AND ".join(conditions), params


def baseline_totals(engine: Engine, scope: Scope) -> dict[str, Any]:
    where, params = tickets_where(scope)
    with engine.connect() as conn:
        row = conn.exec_driver_sql(TOTALS.format(where=where), params).mappings().one()
    return dict(row)


def baseline_metrics(engine: Engine, scope: Scope) -> Metrics:
    t = baseline_totals(engine, scope)
    return Metrics(
        total_open=t["open"],
        total_resolved=t["resolved"],
        sla_compliance_percent=percent(t["with_sla"] - t["breached"], t["with_sla"]),
        avg_response_hours=round(t["response_seconds"] / t["responded"] / 3600, 2) if t["responded"] else None,
        sla_breaches=t["response_breached"] + t["resolution_breached"],
    )


def baseline_sla(engine: Engine, scope: Scope) -> SLAFigures:
    t = baseline_totals(engine, scope)
    return SLAFigures(
        response_compliance_percent=percent(t["with_response_sla"] - t["response_breached"], t["with_response_sla"]),
        resolution_compliance_percent=percent(t["with_resolution_sla"] - t["resolution_breached"], t["with_resolution_sla"]),
        total_with_sla=t["with_sla"],
        response_breaches=t["response_breached"],
        resolution_breaches=t["resolution_breached"],
    )


def baseline_volume(engine: Engine, scope: Scope) -> list[CategoryVolume]:
    where, params = tickets_where(scope)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(VOLUME.format(where=where), params).all()
    return [CategoryVolume(category=c, open=o, resolved=r) for c, o, r in rows if o or r]


def baseline_workload(engine: Engine, scope: Scope) -> list[TeamWorkload]:
    where, params = tickets_where(scope)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(WORKLOAD.format(where=where), params).all()
    return [TeamWorkload(team_id=i, team_name=n, open_count=o, total_count=t) for i, n, o, t in rows]


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


BASELINE: dict[str, Callable[[Engine, Scope], Any]] = {
    "metrics": baseline_metrics, "volume": baseline_volume, "sla": baseline_sla, "workload": baseline_workload,
}  # fmt: skip
ROLLUPS: dict[str, Callable[[Engine, Scope], Any]] = {view: getattr(dashboard_queries, view) for view in VIEWS}


# The data set


def create_tables(url: str) -> None:
    app = Docket(env=eventsourcing_env(url, CIPHER_KEY))
    try:
        ensure_tables(app.recorder.datastore)
    finally:
        app.close()
    with psycopg.connect(url) as conn:
        conn.execute(TICKETS_TABLE)
        conn.cursor().executemany(
            "INSERT INTO bench_teams (id, tenant, name, is_restricted) VALUES (%s, %s, %s, %s)",
            [(team_id, TENANT, name, restricted) for team_id, (name, restricted) in zip(TEAM_IDS, TEAMS, strict=True)],
        )


def grow_tickets(url: str, have: int, size: int) -> None:
    """Adds tickets have+1..size; indexes are dropped for the load and built again after it."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP INDEX IF EXISTS bench_tickets_tenant_created, bench_tickets_tenant_ward_created")
        log.info("generating tickets %d..%d into bench_tickets", have + 1, size)
        started = time.perf_counter()
        params = {
            "first": have + 1, "last": size, "tenant": TENANT, "days": DAYS, "categories": CATEGORIES,
            "start": datetime.combine(FIRST_DAY, clock(), UTC), "liaison": LIAISON, "teams": TEAM_IDS, "routed": ROUTED_TO,
        }  # fmt: skip
        conn.execute(GENERATE, params)
        log.info("generated %d tickets in %.1fs; indexing", size - have, time.perf_counter() - started)
        started = time.perf_counter()
        conn.execute(TICKETS_INDEXES)
        log.info("indexed bench_tickets in %.1fs", time.perf_counter() - started)


def build_rollups(url: str) -> None:
    log.info("building dashboard_rollups and dashboard_teams from bench_tickets")
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(BUILD_ROLLUPS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE bench_tickets, bench_teams, dashboard_rollups, dashboard_teams")
    log.info("built the rollups and vacuumed in %.1fs", time.perf_counter() - started)


def rollup_counts(engine: Engine) -> dict[str, int]:
    """Rollup rows a /metrics request sums over, in each scope."""
    with engine.connect() as conn:
        return {
            name: conn.execute(dashboard_queries._scoped(select(func.count()), scope, "all")).scalar_one() for name, scope in SCOPES.items()
        }


# Timing


@dataclass(frozen=True)
class Latency:
    samples: tuple[float, ...]  # seconds, sorted

    def percentile(self, q: float) -> float:
        return self.samples[max(0, math.ceil(q * len(self.samples)) - 1)]

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def latency(name: str, call: Callable[[], object], requests: int, warmup: int) -> Latency:
    for _ in range(warmup):
        call()
    samples, last_report = [], time.perf_counter()
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
        if started - last_report >= PROGRESS_EVERY:
            log.info("  %s: %d of %d done", name, len(samples), requests)
            last_report = started
    result = Latency(tuple(sorted(samples)))
    log.info("%s: p50 %s, p99 %s over %d", name, ms(result.p50), ms(result.p99), requests)
    return result


def http_params(scope: Scope) -> dict[str, str]:
    params = {"ward": scope.ward, "from": scope.since and scope.since.isoformat(), "to": scope.until and scope.until.isoformat()}
    return {name: value for name, value in params.items() if value is not None}


# Checking that the rollups are the projection's


CHECK_DAYS = (FIRST_DAY, FIRST_DAY + timedelta(days=DAYS // 2), LAST_DAY)
KEY = ("dim", "grain", "ward", "period", "key")
DAY_OF_TICKETS = """
SELECT t.ward, (t.created_at AT TIME ZONE 'UTC')::date AS day, t.category, t.team_id, t.status_category, t.is_sensitive,
       t.archived, coalesce(tm.is_restricted, false) AS team_restricted, t.has_response_sla, t.has_resolution_sla,
       t.response_breached, t.resolution_breached, t.response_seconds
FROM bench_tickets t LEFT JOIN bench_teams tm ON tm.id = t.team_id
WHERE t.tenant = %(tenant)s AND t.created_at >= %(since)s AND t.created_at < %(before)s"""


def check_contribution(engine: Engine, size: int) -> None:
    """Aborts unless the day rollups of a few days hold what `contribution()` itself makes of those
    days' tickets, summed per rollup row as the projection's `_add` does."""
    with engine.connect() as conn:
        for day in CHECK_DAYS:
            _, params = tickets_where(Scope(TENANT, since=day, until=day))
            expected: dict[tuple, dict[str, float]] = {}
            for facts in conn.exec_driver_sql(DAY_OF_TICKETS, params).mappings():
                figures = contribution(facts)
                if any(figures.values()):
                    for key in rollup_keys({**facts, "tenant": TENANT}):
                        if key["grain"] == "day":
                            row = expected.setdefault(tuple(key[name] for name in KEY), dict.fromkeys(figures, 0))
                            row.update({name: row[name] + value for name, value in figures.items()})
            rows = conn.exec_driver_sql(
                f"SELECT {', '.join((*KEY, *FIGURES, 'response_seconds'))} FROM dashboard_rollups "
                "WHERE tenant = %(tenant)s AND grain = 'day' AND period = %(day)s",
                {"tenant": TENANT, "day": day},
            ).mappings()
            built = {tuple(row[name] for name in KEY): {name: row[name] for name in (*FIGURES, "response_seconds")} for row in rows}
            if built != expected:
                wrong = next(key for key in built.keys() | expected.keys() if built.get(key) != expected.get(key))
                raise SystemExit(
                    f"ABORTED: at {size} tickets the rollup row {wrong} is not what contribution() makes of its tickets:\n"
                    f"  built: {built.get(wrong)}\n  contribution(): {expected.get(wrong)}"
                )
    log.info("checked: the day rollups of %s hold what contribution() makes of their tickets", ", ".join(map(str, CHECK_DAYS)))


def check_figures(client: httpx.Client, headers: dict[str, str], engine: Engine, size: int) -> None:
    """Aborts unless every endpoint answers, for every scope, what the GROUP BY baseline computes."""
    for view in VIEWS:
        for name, scope in SCOPES.items():
            answer = client.get(f"/api/v1/dashboard/{view}", params=http_params(scope), headers=headers)
            answer.raise_for_status()
            expected = msgspec.to_builtins(BASELINE[view](engine, scope))
            if answer.json() != expected:
                raise SystemExit(
                    f"ABORTED: at {size} tickets the dashboard's /{view} for scope {name} differs from the GROUP BY:\n"
                    f"  dashboard: {answer.json()}\n  GROUP BY:  {expected}\n"
                    "The rollups built by BUILD_ROLLUPS no longer match what the projection's contribution() counts."
                )
    log.info("checked: every endpoint and scope answers the GROUP BY's figures (e.g. /metrics for the tenant: %s)",
             client.get("/api/v1/dashboard/metrics", headers=headers).json())  # fmt: skip


# Measuring


@dataclass(frozen=True)
class Row:
    view: str
    scope: str
    http: Latency
    query: Latency
    group_by: Latency


def http_floor(client: httpx.Client, requests: int) -> Latency:
    """The least a dashboard request costs here: no read model can answer faster over HTTP."""
    headers = bearer(EMPTY_TENANT, "manager", "bench-manager")
    return latency(
        "GET /metrics of a tenant with no tickets (the HTTP floor)",
        lambda: client.get("/api/v1/dashboard/metrics", headers=headers).raise_for_status(),
        requests,
        warmup=20,
    )


def measure_size(client: httpx.Client, headers: dict[str, str], engine: Engine, requests: int, baseline_requests: int) -> list[Row]:
    rows = []
    for view in VIEWS:
        for name, scope in SCOPES.items():
            get = partial(client.get, f"/api/v1/dashboard/{view}", params=http_params(scope), headers=headers)
            http = latency(f"GET /{view} [{name}] over HTTP", lambda get=get: get().raise_for_status(), requests, warmup=20)
            query = latency(f"{view}() on the rollups [{name}]", partial(ROLLUPS[view], engine, scope), requests, warmup=20)
            group_by = latency(f"{view} by GROUP BY [{name}]", partial(BASELINE[view], engine, scope), baseline_requests, warmup=2)
            rows.append(Row(view, name, http, query, group_by))
    return rows


# Reporting


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report_size(size: int, rollups: dict[str, int], floor: Latency, rows: list[Row]) -> str:
    in_scope = ", ".join(f"{name} {count:,}" for name, count in rollups.items())
    lines = [
        f"{size:,} tickets; rollup rows summed per request: {in_scope}",
        f"HTTP floor (GET /metrics of a tenant with no tickets): p50 {ms(floor.p50)}, p99 {ms(floor.p99)}",
        f"{'':19}{'endpoint (HTTP)':>20}{'rollup query':>20}{'GROUP BY':>20}   {'GROUP BY / endpoint':>19}   {'GROUP BY / query':>16}",
        f"{'view':9}{'scope':10}" + f"{'p50 ms':>10}{'p99 ms':>10}" * 3 + f"   {'p50':>9}{'p99':>10}   {'p50':>8}{'p99':>8}",
    ]
    for r in rows:
        timings = "".join(f"{x.p50 * 1000:>10.2f}{x.p99 * 1000:>10.2f}" for x in (r.http, r.query, r.group_by))
        ratios = f"   {times(r.group_by.p50 / r.http.p50):>9}{times(r.group_by.p99 / r.http.p99):>10}"
        ratios += f"   {times(r.group_by.p50 / r.query.p50):>8}{times(r.group_by.p99 / r.query.p99):>8}"
        lines.append(f"{r.view:9}{r.scope:10}{timings}{ratios}")
    return "\n".join(lines)


def report_targets(results: dict[int, list[Row]], floor: Latency) -> str:
    smallest, largest = min(results), max(results)
    lines = [
        f"Targets at {largest:,} tickets, on the endpoints over HTTP:",
        f"  flat: p99 at {largest:,} within {TARGET_FLAT:g}x of p99 at {smallest:,};"
        f" fast: GROUP BY p50 / endpoint p50 >= {TARGET_SPEEDUP:.0f}x; p99 < {TARGET_P99 * 1000:.0f} ms",
        "  ceiling: GROUP BY p50 / HTTP floor p50, the most any read model could reach over HTTP here",
        f"{'view':9}{'scope':10}{'p99 growth':>12}{'flat':>6}{'speed-up':>10}{'fast':>6}{'ceiling':>9}{'p99 ms':>9}{'<20ms':>7}",
    ]
    held = {"flat": 0, "fast": 0, "p99": 0}
    for small, large in zip(results[smallest], results[largest], strict=True):
        verdicts = {
            "flat": None if smallest == largest else large.http.p99 / small.http.p99 <= TARGET_FLAT,
            "fast": large.group_by.p50 / large.http.p50 >= TARGET_SPEEDUP,
            "p99": large.http.p99 < TARGET_P99,
        }
        held.update({name: held[name] + bool(ok) for name, ok in verdicts.items()})
        growth = "n/a" if smallest == largest else f"{large.http.p99 / small.http.p99:.2f}x"
        lines.append(
            f"{large.view:9}{large.scope:10}{growth:>12}{yes_no(verdicts['flat']):>6}"
            f"{times(large.group_by.p50 / large.http.p50):>10}{yes_no(verdicts['fast']):>6}{times(large.group_by.p50 / floor.p50):>9}"
            f"{large.http.p99 * 1000:>9.2f}{yes_no(verdicts['p99']):>7}"
        )
    total = len(results[largest])
    flat = "n/a (one size)" if smallest == largest else f"{held['flat']}/{total}"
    lines.append(f"held: flat {flat}, >={TARGET_SPEEDUP:.0f}x {held['fast']}/{total}, <20 ms p99 {held['p99']}/{total}")
    return "\n".join(lines)


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


def yes_no(ok: bool | None) -> str:
    return "n/a" if ok is None else "yes" if ok else "NO"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="tickets in the store, comma separated (default %(default)s)"
    )
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help="timed requests per endpoint and scope (default %(default)s)"
    )
    parser.add_argument(
        "--baseline-requests",
        type=int,
        default=DEFAULT_BASELINE_REQUESTS,
        help="timed GROUP BY runs per figure and scope (default %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(size) for size in args.sizes.split(",")})
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas")
    if args.sizes[0] < 1 or args.requests < 1 or args.baseline_requests < 1:
        parser.error("sizes and request counts must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("workers.embedded").setLevel(logging.INFO)
    args = parse_args(argv)
    server = database_server()
    log.info("PostgreSQL: %s", safe(server) if server else "embedded, in a temporary directory")
    results: dict[int, list[Row]] = {}
    floors: dict[int, Latency] = {}
    reports = []
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as tmp, fresh_database(server, Path(tmp)) as url:
        log.info("scratch database %s (dropped at the end)", make_url(url).database)
        create_tables(url)
        engine = engine_for(url)
        headers = bearer(TENANT, "manager", "bench-manager")
        try:
            with running_api(url, Path(tmp)) as base_url, httpx.Client(base_url=base_url, timeout=120) as client:
                have = 0
                for size in args.sizes:
                    grow_tickets(url, have, size)
                    have = size
                    build_rollups(url)
                    check_contribution(engine, size)
                    check_figures(client, headers, engine, size)
                    rollups = rollup_counts(engine)
                    log.info("%d tickets in %s rollup rows; measuring", size, f"{rollups['tenant']:,}")
                    floors[size] = http_floor(client, args.requests)
                    results[size] = measure_size(client, headers, engine, args.requests, args.baseline_requests)
                    reports.append(report_size(size, rollups, floors[size], results[size]))
        finally:
            engine.dispose()
    print()
    print("\n\n".join(reports))
    print()
    print(report_targets(results, floors[max(floors)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
