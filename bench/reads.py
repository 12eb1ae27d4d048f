"""The read path under load: each read endpoint driven by many concurrent connections, beside the
same endpoints of a baseline commit served from the same database in the same run.

    .venv/bin/python bench/reads.py [--seconds 5] [--connections 32] [--tickets 3000] [--baseline REF|none]

Seeds one tenant through the service over HTTP (teams, a few thousand tickets over wards and
categories, some held by teams, some moved on), waits for the projections, then measures
`GET /health`, the ticket detail (a manager's, and an agent's, whose scope costs a query), a 20-row
list page, a ticket's history and conversation, and each dashboard figure: requests/s, p50 and p99, with `wrk` when it is on PATH, else
an asyncio client. The baseline (default 1690c4a, before the read-path rework) is checked out with
`git worktree add` and its `docket serve` measured first; then this tree's, on the same database,
never both at once. The database is a scratch one, as for bench/load.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers that find and start servers live in tests/

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.common import PROGRESS_EVERY, bearer, database_server, logged_problems, safe, service_env, serving  # noqa: E402
from bench.load import Connection  # noqa: E402
from tests.e2e.processes import DOCKET, Service  # noqa: E402
from tests.servers import fresh_database  # noqa: E402
from workers.embedded import free_port  # noqa: E402

log = logging.getLogger("bench")

DEFAULT_BASELINE = "1690c4a"  # the commit before the read-path rework (issue 18)
TARGET_RATE, TARGET_P99 = 2000.0, 0.050  # requests/s at least, p99 under, at 32 connections
CAUGHT_UP_TIMEOUT = 300.0  # seconds for the projections to apply everything (a rebuild included)
WARM_UP_SECONDS = 1


@dataclass(frozen=True)
class Target:
    """One endpoint as measured: `{id}` in its path is spread over many tickets."""

    name: str
    path: str
    role: str | None  # whose token; None sends none
    goal: bool = True  # the targets apply to it


DASHBOARD_FIGURES = ("metrics", "volume", "sla", "workload")
TARGETS = (
    Target("GET /health", "/health", None, goal=False),
    Target("GET /api/v1/tickets/{id}", "/api/v1/tickets/{id}", "manager"),
    Target("GET /api/v1/tickets/{id}, agent", "/api/v1/tickets/{id}", "agent", goal=False),
    Target("GET /api/v1/tickets?page_size=20", "/api/v1/tickets?page_size=20", "manager"),
    Target("GET /api/v1/tickets/{id}/history", "/api/v1/tickets/{id}/history", "manager", goal=False),
    Target("GET /api/v1/tickets/{id}/replies", "/api/v1/tickets/{id}/replies", "manager", goal=False),
    *(Target(f"GET /api/v1/dashboard/{figure}", f"/api/v1/dashboard/{figure}", "manager") for figure in DASHBOARD_FIGURES),
)


# Seeding, through the service over HTTP ----------------------------------------------------------

CATEGORIES, CATEGORY_WEIGHTS = ("roads", "water", "electricity", "parks", "waste"), (5, 4, 2, 2, 1)
TEAMS = {"Roads crew": "roads", "Water works": "water", "Power": "electricity", "Parks": "parks"}  # waste: no team
AGENT_TEAM = "Roads crew"  # the agent is a member: their detail reads spread over its tickets
WARDS = tuple(str(n) for n in range(1, 10))
PRIORITIES = ("low", "medium", "high", "urgent")
REPORTERS = 50
HELD_BY_TEAMS = 0.6  # of the tickets of a category a team holds
MOVED_ON, RESOLVED, CLOSED = 0.4, 0.2, 0.1  # of all tickets: in progress, then resolved, then closed


@dataclass
class Seeded:
    tenant: str
    ticket_ids: list[str] = field(default_factory=list)
    agent_ticket_ids: list[str] = field(default_factory=list)  # held by the agent's team
    assigned: int = 0
    status_changes: int = 0
    errors: int = 0


def ticket_body(i: int) -> dict:
    """The i-th report: a category (skewed), a priority, a ward (one in ten without)."""
    rng = random.Random(i)
    category = rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]
    body = {"title": f"{category.title()} report {i}", "description": "Reported by a resident (bench/reads.py)", "category": category}
    body["priority"] = rng.choice(PRIORITIES)
    if rng.random() > 0.1:
        body["ward"] = rng.choice(WARDS)
    return body


def follow_ups(i: int, category: str, team_ids: dict[str, str]) -> list[tuple[str, str, dict]]:
    """What happens to the i-th ticket after it is opened: (method, path under the ticket, body)."""
    rng = random.Random(-1 - i)
    steps: list[tuple[str, str, dict]] = []
    team = next((name for name, held in TEAMS.items() if held == category), None)
    if team and rng.random() < HELD_BY_TEAMS:
        steps.append(("POST", "/assign", {"team_id": team_ids[team], "reason": "bench"}))
    share = rng.random()
    statuses = ["in_progress"] * (share < MOVED_ON) + ["resolved"] * (share < RESOLVED) + ["closed"] * (share < CLOSED)
    steps += [("PATCH", "/status", {"status": status, "note": "bench"}) for status in statuses]
    return steps


class Progress:
    """The seeding's counts, logged every PROGRESS_EVERY seconds while it runs."""

    def __init__(self, seeded: Seeded, tickets: int) -> None:
        self.seeded, self.tickets = seeded, tickets

    def line(self) -> str:
        s = self.seeded
        opened = sum(1 for ticket_id in s.ticket_ids if ticket_id)
        return (
            f"seeding: {opened}/{self.tickets} opened, {s.assigned} assigned to teams, {s.status_changes} status changes, {s.errors} errors"
        )

    @asynccontextmanager
    async def logging(self) -> AsyncIterator[None]:
        async def every_second() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY)
                log.info(self.line())

        task = asyncio.create_task(every_second())
        try:
            yield
        finally:
            task.cancel()
            log.info(self.line())


async def in_parallel(base_url: str, clients: int, items: Iterable, work: Callable[[Connection, object], Awaitable[bool]]) -> int:
    """`work` on every item, by `clients` keep-alive connections at once; the failures, counted."""
    pending = iter(items)
    failures = 0

    async def client() -> None:
        nonlocal failures
        http = await Connection.open(base_url)
        for item in pending:
            try:
                failures += not await work(http, item)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                failures += 1
                http.close()
                http = await Connection.open(base_url)
        http.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return failures


async def create_teams(base_url: str, tenant: str) -> dict[str, str]:
    """The teams, each holding one category, and the agent a member of AGENT_TEAM."""
    admin = bearer(tenant, "admin", "bench-admin")
    http = await Connection.open(base_url)
    try:
        team_ids = {}
        for name, category in TEAMS.items():
            answer = await http.send("POST", "/api/v1/teams", {"name": name, "categories": [category]}, admin)
            assert answer.status_code in (200, 201), f"creating team {name}: {answer.status_code} {answer.body[:300]!r}"
            team_ids[name] = answer.json()["id"]
        member = {"display_name": "Bench Agent", "role": "agent"}
        answer = await http.send("PUT", f"/api/v1/teams/{team_ids[AGENT_TEAM]}/members/bench-agent", member, admin)
        assert answer.status_code in (200, 201), f"adding the agent: {answer.status_code} {answer.body[:300]!r}"
        return team_ids
    finally:
        http.close()


async def seed(base_url: str, tickets: int, clients: int) -> Seeded:
    seeded = Seeded(tenant=f"reads{uuid.uuid4().hex[:8]}", ticket_ids=[""] * tickets)
    log.info("seeding tenant %s: %d tickets over HTTP, %d clients", seeded.tenant, tickets, clients)
    team_ids = await create_teams(base_url, seeded.tenant)
    reporters = [bearer(seeded.tenant, "reporter", f"resident-{n}") for n in range(REPORTERS)]
    manager = bearer(seeded.tenant, "manager", "bench-manager")
    bodies = [ticket_body(i) for i in range(tickets)]

    async def open_one(http: Connection, i: int) -> bool:
        answer = await http.send("POST", "/api/v1/tickets", bodies[i], reporters[i % REPORTERS])
        if answer.status_code == 201:
            seeded.ticket_ids[i] = answer.json()["id"]
        return answer.status_code == 201

    async def move_one(http: Connection, i: int) -> bool:
        for method, path, body in follow_ups(i, bodies[i]["category"], team_ids):
            answer = await http.send(method, f"/api/v1/tickets/{seeded.ticket_ids[i]}{path}", body, manager)
            if answer.status_code != 200:
                return False
            if path == "/assign":
                seeded.assigned += 1
                if body["team_id"] == team_ids[AGENT_TEAM]:
                    seeded.agent_ticket_ids.append(seeded.ticket_ids[i])
            else:
                seeded.status_changes += 1
        return True

    started = time.perf_counter()
    async with Progress(seeded, tickets).logging():
        seeded.errors += await in_parallel(base_url, clients, range(tickets), open_one)
        seeded.errors += await in_parallel(base_url, clients, (i for i in range(tickets) if seeded.ticket_ids[i]), move_one)
    seeded.ticket_ids = [ticket_id for ticket_id in seeded.ticket_ids if ticket_id]
    log.info("seeded in %.1fs", time.perf_counter() - started)
    return seeded


# The service, from a source tree -----------------------------------------------------------------


class TreeService(Service):
    """`docket` run from a given source tree (the baseline's worktree, or this one), on this venv's
    Python: the tree is the working directory and first on PYTHONPATH, so its packages are imported,
    not those the venv's editable install points at."""

    def __init__(self, tree: Path, args: list[str], env: dict[str, str], log_file: Path) -> None:
        self.log = log_file
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))}
        with open(log_file, "ab") as out:
            self.process = subprocess.Popen([*DOCKET, *args], env=env, cwd=tree, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def running_serve(tree: Path, database_url: str, data_dir: Path, label: str) -> Iterator[str]:
    """`docket serve` from `tree` as a separate process on the scratch database, embedded NATS."""
    port = free_port()
    log_file = serve_log(data_dir, label)
    log.info("starting `docket serve` of the %s tree on port %s (log: %s)", label, port, log_file)
    with serving(TreeService(tree, ["serve"], service_env(database_url, data_dir, port), log_file), port) as base_url:
        yield base_url


def serve_log(data_dir: Path, label: str) -> Path:
    return data_dir.parent / f"serve-{label.split()[0]}.log"


def code_versions(tree: Path) -> dict[str, int]:
    """The projection versions the tree's code builds: its projector rebuilds older tables at start."""
    script = (
        "import json; from projections.operations import PROJECTIONS; print(json.dumps({n: p.version for n, p in PROJECTIONS.items()}))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        log.warning("could not read the projection versions of %s: %s", tree, done.stderr.strip()[-300:])
        return {}
    return json.loads(done.stdout)


def built_versions(database_url: str) -> dict[str, int] | None:
    """The versions the live tables were built with; None when the server takes no connection now."""
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            return dict(conn.execute("SELECT name, version FROM projection_versions").fetchall())
    except psycopg.errors.UndefinedTable:
        return {}
    except psycopg.OperationalError as refused:  # too many clients, on a shared server: try again
        log.info("reading the projection versions: %s", str(refused).strip().splitlines()[-1])
        return None


def wait_caught_up(tree: Path, database_url: str, base_url: str) -> None:
    """Until the tables are those the tree's code builds, and /health says no projection (nor the
    relay) has an event left to apply."""
    wanted, deadline = code_versions(tree), time.monotonic() + CAUGHT_UP_TIMEOUT
    while time.monotonic() < deadline:
        if (awaited := still_awaited(wanted, database_url, base_url)) is None:
            return
        log.info("waiting for the projections: %s", awaited)
        time.sleep(1)
    log.warning("the projections had not caught up after %.0fs", CAUGHT_UP_TIMEOUT)


def analyze(database_url: str) -> None:
    """Statistics for the planner and the visibility map, as autovacuum would have made them by now
    on a server that runs it (some, this development machine's among them, run without): with no
    statistics PostgreSQL plans a 20-row page of a table it believes empty with a sort of every row,
    and with no visibility map it counts a list's total off the table, not its index."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def still_awaited(wanted: dict[str, int], database_url: str, base_url: str) -> str | None:
    """What the projections have yet to do; None when they are done."""
    built = built_versions(database_url)
    if built is None:
        return "the database takes no connection now"
    if rebuilding := [name for name, version in wanted.items() if built.get(name, 0) < version]:
        return f"rebuilding {', '.join(rebuilding)}"
    lag = health_lag(base_url)
    if lag is None:
        return "/health does not answer 200"
    return f"lag {lag}" if any(lag.values()) else None


def health_lag(base_url: str) -> dict[str, int] | None:
    try:
        answer = httpx.get(f"{base_url}/health", timeout=5)
    except httpx.HTTPError:
        return None
    return answer.json().get("lag", {}) if answer.status_code == 200 else None


@contextmanager
def baseline_tree(ref: str, where: Path) -> Iterator[Path]:
    """The baseline commit checked out beside the repository (git worktree), removed at the end."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(where), ref], check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)


def short_commit(ref: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{ref}^{{commit}}"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"--baseline {ref}: not a commit of this repository")
    return done.stdout.strip()


# Measuring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    rate: float  # answers/s, whatever their status
    p50: float  # seconds
    p99: float
    requests: int
    errors: int  # answers other than 2xx and 3xx, and connections lost or timed out

    def holds(self) -> tuple[bool, bool]:
        return self.rate >= TARGET_RATE, self.p99 < TARGET_P99


@dataclass(frozen=True)
class Load:
    """How each endpoint is driven, and with whose tokens and tickets."""

    seconds: int
    connections: int
    client: str  # "wrk" or "asyncio"
    tokens: dict[str, str]  # role -> the Authorization header's value
    ids: dict[str, list[str]]  # role -> the tickets its detail reads spread over
    scripts: Path  # where wrk's Lua scripts go


def measure(base_url: str, target: Target, load: Load, seconds: int) -> Measurement:
    token = load.tokens[target.role] if target.role else None
    ids = load.ids.get(target.role or "", [])
    if load.client == "wrk":
        return wrk_measure(base_url, target.path, ids, token, seconds, load)
    return asyncio.run(asyncio_measure(base_url, target.path, ids, token, seconds, load.connections))


def measure_all(base_url: str, load: Load, label: str) -> dict[str, Measurement]:
    for target in TARGETS:  # each code path warmed in every API process before anything is timed
        measure(base_url, target, load, WARM_UP_SECONDS)
    results = {}
    for target in TARGETS:
        result = measure(base_url, target, load, load.seconds)
        log.info("  %s, %s: %s", label, target.name, summary(result))
        results[target.name] = result
    return results


def summary(result: Measurement) -> str:
    return (
        f"{result.rate:.0f}/s, p50 {result.p50 * 1000:.1f} ms, p99 {result.p99 * 1000:.1f} ms, {result.errors} errors of {result.requests}"
    )


# wrk

WRK_SCRIPT = """\
local ids = {%(ids)s}
local prefix = "%(prefix)s"
local suffix = "%(suffix)s"
local threads = 0

function setup(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end

function init(args)
  n = first or 0
end

function request()
  n = n + 1
  return wrk.format(nil, prefix .. ids[n %% #ids + 1] .. suffix)
end
"""


def wrk_script(path: str, ids: list[str], scripts: Path) -> Path:
    """A Lua script sending each request to the next ticket, each wrk thread from its own place."""
    prefix, suffix = path.split("{id}")
    script = scripts / f"ids-{len(ids)}-{abs(hash((path, *ids)))}.lua"
    script.write_text(WRK_SCRIPT % {"ids": ", ".join(f'"{i}"' for i in ids), "prefix": prefix, "suffix": suffix})
    return script


def wrk_measure(base_url: str, path: str, ids: list[str], token: str | None, seconds: int, load: Load) -> Measurement:
    command = ["wrk", f"-t{min(2, load.connections)}", f"-c{load.connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if token:
        command += ["-H", f"Authorization: {token}"]
    if "{id}" in path:
        command += ["-s", str(wrk_script(path, ids, load.scripts))]
    command.append(base_url + path.replace("{id}", ids[0] if ids else ""))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_wrk(output: str) -> Measurement:
    """requests/s, p50, p99 and errors from `wrk --latency`'s report."""
    percentiles = {
        int(p): float(value) * UNITS[unit] for p, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    requests = int(re.search(r"^\s*(\d+) requests in", output, re.M).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))
    return Measurement(rate, percentiles[50], percentiles[99], requests, errors)


# asyncio, when wrk is not installed


class Getter:
    """One keep-alive HTTP/1.1 connection sending GETs, as lean as bench/load.py's clients."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: str) -> None:
        self.reader, self.writer, self.head = reader, writer, head

    @classmethod
    async def open(cls, base_url: str, token: str | None) -> Getter:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = f"Host: {host}:{port}\r\n" + (f"Authorization: {token}\r\n" if token else "") + "\r\n"
        return cls(reader, writer, head)

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
        status = int((await self.reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            length = int(value) if name == "content-length" else length
            chunked = chunked or (name == "transfer-encoding" and "chunked" in value.lower())
        if chunked:
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def asyncio_measure(base_url: str, path: str, ids: list[str], token: str | None, seconds: int, connections: int) -> Measurement:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(n: int) -> None:
        nonlocal errors
        http, i = await Getter.open(base_url, token), n * 7919
        while time.perf_counter() < deadline:
            i += 1
            began = time.perf_counter()
            try:
                status = await http.get(path.replace("{id}", ids[i % len(ids)]) if ids else path)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors += 1
                http.close()
                http = await Getter.open(base_url, token)
                continue
            latencies.append(time.perf_counter() - began)
            errors += status >= 400
        http.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(n) for n in range(connections)))
    elapsed = time.perf_counter() - started
    if len(latencies) < 2:
        return Measurement(len(latencies) / elapsed, float("nan"), float("nan"), len(latencies), errors)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Measurement(len(latencies) / elapsed, cuts[49], cuts[98], len(latencies), errors)


# The report --------------------------------------------------------------------------------------


def report(results: dict[str, dict[str, Measurement]], labels: list[str]) -> list[str]:
    """Each endpoint's figures side by side, the ratios current / baseline, then the targets."""
    width = max(len(target.name) for target in TARGETS)
    columns = "".join(f"  {label:^31}" for label in labels)
    lines = [f"{'':{width}}{columns}" + ("    current / baseline" if len(labels) == 2 else "")]
    lines.append(
        f"{'endpoint':{width}}" + "      req/s  p50 ms  p99 ms  errors" * len(labels) + ("     req/s     p99" if len(labels) == 2 else "")
    )
    for target in TARGETS:
        row = [results[label][target.name] for label in labels]
        line = f"{target.name:{width}}" + "".join(f"  {r.rate:9.0f} {r.p50 * 1000:7.1f} {r.p99 * 1000:7.1f} {r.errors:7d}" for r in row)
        if len(row) == 2:
            line += f"  {ratio(row[1].rate, row[0].rate):>8} {ratio(row[1].p99, row[0].p99):>7}"
        lines.append(line)
    return lines + [""] + targets_report(results[labels[-1]], width)


def ratio(current: float, baseline: float) -> str:
    return f"{current / baseline:.2f}x" if baseline else "-"


def targets_report(current: dict[str, Measurement], width: int) -> list[str]:
    lines = [f"Targets of issue 18 on the current tree: >= {TARGET_RATE:,.0f} requests/s and p99 < {TARGET_P99 * 1000:.0f} ms"]
    lines.append(f"{'endpoint':{width}}      req/s  held  p99 ms  held")
    held = [0, 0]
    goals = [target for target in TARGETS if target.goal]
    for target in goals:
        result = current[target.name]
        fast, quick = result.holds()
        held[0], held[1] = held[0] + fast, held[1] + quick
        lines.append(f"{target.name:{width}}  {result.rate:9.0f}  {yes(fast):>4} {result.p99 * 1000:7.1f}  {yes(quick):>4}")
    lines.append(f"held: >= {TARGET_RATE:,.0f}/s {held[0]}/{len(goals)}, p99 < {TARGET_P99 * 1000:.0f} ms {held[1]}/{len(goals)}")
    return lines


def yes(held: bool) -> str:
    return "yes" if held else "NO"


# The run -----------------------------------------------------------------------------------------


def measure_trees(trees: list[tuple[str, Path]], database_url: str, tmp: Path, args: argparse.Namespace) -> tuple[Seeded, dict]:
    """Each tree's `docket serve` in turn on the one database; the first seeds it. A later tree
    whose service does not start is left out of the report, the reason logged."""
    seeded: Seeded | None = None
    results: dict[str, dict[str, Measurement]] = {}
    data_dir = tmp / "data"
    data_dir.mkdir()
    for label, tree in trees:
        try:
            with running_serve(tree, database_url, data_dir, label) as base_url:
                if seeded is None:
                    seeded = asyncio.run(seed(base_url, args.tickets, args.connections))
                wait_caught_up(tree, database_url, base_url)
                analyze(database_url)
                log.info(
                    "measuring the %s tree: %d endpoints, %ds each, %d connections, %s",
                    label,
                    len(TARGETS),
                    args.seconds,
                    args.connections,
                    args.client,
                )
                results[label] = measure_all(base_url, load_for(seeded, args, tmp), label)
            if any(result.errors for result in results[label].values()):
                problems = logged_problems(serve_log(data_dir, label))
                log.warning("the %s tree answered errors; its log's last problems:\n  %s", label, "\n  ".join(problems) or "none")
        except AssertionError as failure:  # Service's: it exited, or was not healthy in time
            if seeded is None:
                raise
            tail = "\n".join(str(failure).splitlines()[-15:])
            log.error("the %s tree's `docket serve` did not serve, left out of the report:\n%s", label, tail)
    assert seeded is not None
    return seeded, results


def load_for(seeded: Seeded, args: argparse.Namespace, tmp: Path) -> Load:
    roles = {"manager": "bench-manager", "agent": "bench-agent"}
    tokens = {role: bearer(seeded.tenant, role, sub)["Authorization"] for role, sub in roles.items()}
    ids = {"manager": seeded.ticket_ids, "agent": seeded.agent_ticket_ids}
    return Load(args.seconds, args.connections, args.client, tokens, ids, tmp)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--seconds", type=int, default=5, help="how long each endpoint is driven (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--tickets", type=int, default=3000, help="tickets seeded (default 3000)")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"git ref measured first, or none (default {DEFAULT_BASELINE})")
    parser.add_argument("--client", choices=("wrk", "asyncio"), help="load generator (default: wrk when on PATH, else asyncio)")
    args = parser.parse_args(argv)
    args.client = args.client or ("wrk" if shutil.which("wrk") else "asyncio")
    if args.client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    baseline = None if args.baseline.lower() == "none" else short_commit(args.baseline)
    server = database_server()
    log.info("PostgreSQL: %s", safe(server) if server else "embedded, in a temporary directory")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="docket-reads-") as tmp, fresh_database(server, Path(tmp)) as url:
        trees = [("current", ROOT)]
        with maybe_baseline_tree(baseline, Path(tmp) / "baseline-tree") as baseline_root:
            if baseline_root is not None:
                trees.insert(0, (f"baseline {baseline}", baseline_root))
            seeded, results = measure_trees(trees, url, Path(tmp), args)
    print()
    print(
        f"{len(seeded.ticket_ids)} tickets in one tenant ({seeded.assigned} held by teams, {len(seeded.agent_ticket_ids)} by the agent's, "
        f"{seeded.status_changes} status changes, {seeded.errors} seeding errors); {args.client}, {args.connections} connections, "
        f"{args.seconds}s per endpoint; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("\n".join(report(results, list(results))))
    return 0


@contextmanager
def maybe_baseline_tree(baseline: str | None, where: Path) -> Iterator[Path | None]:
    if baseline is None:
        yield None
        return
    with baseline_tree(baseline, where) as tree:
        yield tree


if __name__ == "__main__":
    sys.exit(main())
