"""The write path under load, each rate beside raw psycopg INSERT+COMMIT on the same database in
the same run, as a ratio.

    .venv/bin/python bench/load.py [--seconds N] [--workers N]

Measures, in one run: the baseline (one single-row INSERT and one COMMIT per operation, one
connection); the use cases in process, called by 1 and by 64 threads; over HTTP against
`docket serve`, `POST /tickets` and a mix of opens and status changes with 16 and 64 concurrent
clients, in one tenant and spread over 20: commands/s, latency p50/p99 and errors, with the lag from
a 2xx to the change in the tickets read model and to its message on JetStream; the mix again at
half the highest rate, for the lag under ordinary load; opens at twice the highest rate of opens,
sent on an open loop, for how fast the accepted ones are answered and the rest refused (503
`overloaded`); and a rebuild of the tickets projection over everything the run wrote. The database: a scratch one, dropped at the end, on the server
DOCKET_DATABASE_URL names, else the local server at 127.0.0.1:5432, else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers that find and start servers live in tests/

import nats  # noqa: E402
import psycopg  # noqa: E402

from bench.common import CIPHER_KEY, bearer, database_server, logged_problems, safe, service_env  # noqa: E402
from commands.app import Docket, eventsourcing_env  # noqa: E402
from commands.structs import ChangeStatus, OpenTicket  # noqa: E402
from commands.tickets import change_status, open_ticket  # noqa: E402
from domain.permissions import Actor, Role  # noqa: E402
from projections.operations import PROJECTIONS, count_events, ensure_tables, rebuild  # noqa: E402
from tests.e2e.processes import Service  # noqa: E402
from tests.servers import fresh_database  # noqa: E402
from workers.embedded import PASSWORDS, EmbeddedNats, free_port  # noqa: E402
from workers.event_loop import tune_garbage_collector  # noqa: E402

log = logging.getLogger("bench")

# A ticket moves open -> in_progress first, then back and forth between these two.
NEXT_STATUS = {"open": "in_progress", "in_progress": "escalated", "escalated": "in_progress"}
SAMPLE_EVERY = 5  # of the 2xx answers, every fifth is followed to the read model and to JetStream


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the commands that succeeded
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)  # what each error was: a status, an exception
    projection_lags: list[float] = field(default_factory=list)
    relay_lags: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self, baseline: float) -> str:
        text = f"{self.name}: {self.rate:.0f}/s = {self.rate / baseline:.2f}x"
        if self.latencies and len(self.latencies) > 1:
            text += f", p50 {ms(percentile(self.latencies, 50))} p99 {ms(percentile(self.latencies, 99))}"
        text += f", {self.errors} errors"
        if self.error_kinds:
            text += " (" + ", ".join(f"{kind}: {count}" for kind, count in self.error_kinds.most_common()) + ")"
        if self.projection_lags:
            text += f"; projection lag p50 {ms(percentile(self.projection_lags, 50))} p99 {ms(percentile(self.projection_lags, 99))}"
        if self.relay_lags:
            text += f"; relay lag p50 {ms(percentile(self.relay_lags, 50))} p99 {ms(percentile(self.relay_lags, 99))}"
        return text


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# The baseline ---------------------------------------------------------------------------------


def raw_insert_commit(database_url: str, seconds: float) -> float:
    """One single-row INSERT and one COMMIT per operation, into a scratch table: operations/s."""
    payload = secrets.token_bytes(300)  # about the size of one stored, encrypted event
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload bytea NOT NULL)")
        conn.commit()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.execute("INSERT INTO bench_raw (payload) VALUES (%s)", (payload,))
            conn.commit()
            done += 1
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_raw")
        conn.commit()
    rate = done / elapsed
    log.info("raw INSERT+COMMIT: %d in %.1fs = %.0f/s", done, elapsed, rate)
    return rate


# The use cases in process ---------------------------------------------------------------------


def use_case_results(database_url: str, seconds: float) -> list[Result]:
    app = Docket(env=eventsourcing_env(database_url, CIPHER_KEY))
    try:
        results = []
        for callers in (1, 64):
            tenant = f"bench{uuid.uuid4().hex[:8]}"
            reporter = Actor(id="bench-reporter", tenant=tenant, role=Role.REPORTER)
            manager = Actor(id="bench-manager", tenant=tenant, role=Role.MANAGER)
            tickets: list = []

            def open_one(i: int, reporter: Actor = reporter, tickets: list = tickets) -> None:
                command = OpenTicket(actor=reporter, title=f"Leak {i}", description="Water in the street", category="water")
                tickets.append(open_ticket(app, command).id)

            results.append(in_threads(f"open_ticket, {callers} callers", open_one, callers, seconds))
            statuses = dict.fromkeys(tickets, "open")
            per_caller = [mine for mine in (tickets[n::callers] for n in range(callers)) if mine]  # no two callers on one ticket

            def change_one(i: int, manager: Actor = manager, per_caller: list = per_caller, statuses: dict = statuses) -> None:
                ticket_id = random.choice(per_caller[i % len(per_caller)])  # i % callers: the caller's number
                statuses[ticket_id] = NEXT_STATUS[statuses[ticket_id]]
                change_status(app, ChangeStatus(actor=manager, ticket_id=ticket_id, status=statuses[ticket_id], note="bench"))

            results.append(in_threads(f"change_status, {callers} callers", change_one, callers, seconds))
        return results
    finally:
        app.close()


def in_threads(name: str, operation: Callable[[int], None], callers: int, seconds: float) -> Result:
    log.info("measuring %s for %.0fs", name, seconds)
    result = Result(name, seconds)
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def call_until_deadline(n: int) -> None:
        i = n
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                operation(i)
            except Exception:  # noqa: BLE001 - counted, and the load goes on
                with lock:
                    result.errors += 1
            else:
                with lock:
                    result.latencies.append(time.perf_counter() - began)
            i += callers

    started = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(call_until_deadline, range(callers)))
    result.seconds = time.perf_counter() - started
    log.info("  %s", result.line(1.0).split(" = ")[0])
    return result


# Over HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    tenants: int
    mix: bool  # opens and status changes, else opens only
    rate: float | None = None  # commands/s in all, paced; None: as fast as the clients go


class Followers:
    """Records when sampled commands become visible in the tickets read model and on JetStream."""

    def __init__(self, database_url: str, nats_url: str) -> None:
        self.database_url, self.nats_url = database_url, nats_url
        self.pending_projection: dict[int, float] = {}  # notification id -> when the 2xx came
        self.pending_relay: dict[int, float] = {}
        self.projection_lags: list[float] = []
        self.relay_lags: list[float] = []
        self.early: set[int] = set()  # relayed before they were sampled, or never sampled
        self.subscribed = asyncio.Event()  # the load starts after: a message relayed before would go unseen

    def sample(self, notification_id: int, at: float) -> None:
        self.pending_projection[notification_id] = at
        if notification_id in self.early:  # on JetStream before its client had read the 2xx
            self.relay_lags.append(0.0)
        else:
            self.pending_relay[notification_id] = at

    async def follow_projection(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            while not self._done(stop, self.pending_projection):
                row = await (await conn.execute("SELECT max(notification_id) FROM tickets_tracking")).fetchone()
                now, position = time.perf_counter(), row[0] or 0
                for notification_id in [n for n in self.pending_projection if n <= position]:
                    self.projection_lags.append(now - self.pending_projection.pop(notification_id))
                await asyncio.sleep(0.002)

    async def follow_relay(self, stop: asyncio.Event) -> None:
        client = await nats.connect(self.nats_url, inbox_prefix="_INBOX_admin")

        async def received(message) -> None:
            notification_id = json.loads(message.data)["notification_id"]
            if (at := self.pending_relay.pop(notification_id, None)) is not None:
                self.relay_lags.append(time.perf_counter() - at)
            else:
                self.early.add(notification_id)

        await client.subscribe("docket.*.tickets.>", cb=received)
        await client.flush()  # the server has the subscription
        self.subscribed.set()
        try:
            while not self._done(stop, self.pending_relay):
                await asyncio.sleep(0.05)
        finally:
            await client.close()

    def _done(self, stop: asyncio.Event, pending: dict[int, float]) -> bool:
        """After the load, the last samples get until the deadline to be seen."""
        return stop.is_set() and (not pending or time.perf_counter() > self.deadline)

    deadline = float("inf")  # set when the load stops


async def http_result(scenario: Scenario, base_url: str, followers: Followers, seconds: float) -> Result:
    log.info("measuring %s for %.0fs", scenario.name, seconds)
    result = Result(scenario.name, seconds)
    tenants = [f"bench{uuid.uuid4().hex[:8]}" for _ in range(scenario.tenants)]
    reporters = {t: bearer(t, "reporter", "bench-reporter") for t in tenants}
    managers = {t: bearer(t, "manager", "bench-manager") for t in tenants}
    stop = asyncio.Event()
    followed = [asyncio.create_task(followers.follow_projection(stop)), asyncio.create_task(followers.follow_relay(stop))]
    await followers.subscribed.wait()
    deadline = time.perf_counter() + seconds
    interval = scenario.clients / scenario.rate if scenario.rate else 0.0
    started = time.perf_counter()

    async def client(n: int) -> None:
        http = await Connection.open(base_url)
        tenant = tenants[n % len(tenants)]
        mine: list[tuple[str, str]] = []  # (ticket id, status) of this client's tickets
        i, next_at = 0, time.perf_counter() + random.random() * interval
        while time.perf_counter() < deadline:
            if interval:
                await asyncio.sleep(max(next_at - time.perf_counter(), 0))
                next_at += interval
            change = scenario.mix and mine and i % 2
            began = time.perf_counter()
            try:
                if change:
                    k = random.randrange(len(mine))
                    ticket_id, status = mine[k]
                    status = NEXT_STATUS[status]
                    answer = await http.send(
                        "PATCH", f"/api/v1/tickets/{ticket_id}/status", {"status": status, "note": "bench"}, managers[tenant]
                    )
                    if answer.status_code == 200:
                        mine[k] = (ticket_id, status)
                else:
                    body = {"title": f"Leak {n}-{i}", "description": "Water in the street", "category": "water"}
                    answer = await http.send("POST", "/api/v1/tickets", body, reporters[tenant])
                    if answer.status_code == 201:
                        mine.append((answer.json()["id"], "open"))
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                result.errors += 1
                result.error_kinds[type(error).__name__] += 1
                http.close()
                http = await Connection.open(base_url)
            else:
                if answer.status_code >= 300:
                    result.errors += 1
                    result.error_kinds[f"{answer.status_code} {error_code(answer.body)}"] += 1
                else:
                    now = time.perf_counter()
                    result.latencies.append(now - began)
                    if len(result.latencies) % SAMPLE_EVERY == 0:
                        followers.sample(answer.json()["notification_id"], now)
            i += 1
        http.close()

    await asyncio.gather(*(client(n) for n in range(scenario.clients)))
    result.seconds = time.perf_counter() - started
    followers.deadline = time.perf_counter() + 10
    stop.set()
    await asyncio.gather(*followed)
    result.projection_lags, result.relay_lags = followers.projection_lags, followers.relay_lags
    unseen = len(followers.pending_projection), len(followers.pending_relay)
    if any(unseen):
        log.warning("  not seen within 10s of the end: %d in the read model, %d on JetStream", *unseen)
    log.info("  %s", result.line(1.0).split(" = ")[0])
    return result


@dataclass
class Answer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def error_code(body: bytes) -> str:
    """The `code` of a Docket error's body, else what it starts with."""
    try:
        return str(json.loads(body)["code"])
    except (ValueError, KeyError, TypeError):
        return body[:40].decode("utf-8", "replace")


class Connection:
    """One keep-alive HTTP/1.1 connection, the least a client can do: a general-purpose client
    spends more CPU per request than the server, on the same two cores."""

    def __init__(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.host, self.reader, self.writer = host, reader, writer

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(f"{host}:{port}", reader, writer)

    async def send(self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        payload = json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(head.encode() + b"\r\n" + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return Answer(int(status_line.split()[1]), await self.reader.readexactly(length))

    def close(self) -> None:
        self.writer.close()


# Overload -------------------------------------------------------------------------------------

OVERLOAD_FACTOR = 2  # times the highest rate of POST /tickets measured
MAX_CONNECTIONS = 2000  # of the open-loop load; each request in flight holds one


@dataclass
class OverloadResult:
    """An open-loop load: requests sent at a set rate, whatever the answers. The accepted ones'
    latency, and how fast the refused ones (503 `overloaded`) were refused."""

    name: str
    seconds: float
    offered: int = 0
    accepted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    unavailable: int = 0  # 503 database_unavailable: held past its bound, which overload must not cause
    errors: int = 0  # anything else, connections the client could not open included

    @property
    def rate(self) -> float:
        return len(self.accepted) / self.seconds

    def line(self, baseline: float) -> str:
        text = f"{self.name}: {self.offered / self.seconds:.0f}/s offered; accepted {self.rate:.0f}/s = {self.rate / baseline:.2f}x"
        if len(self.accepted) > 1:
            text += f", p50 {ms(percentile(self.accepted, 50))} p99 {ms(percentile(self.accepted, 99))}"
        text += f"; refused {len(self.refused) / self.seconds:.0f}/s"
        if len(self.refused) > 1:
            text += f", p50 {ms(percentile(self.refused, 50))} p99 {ms(percentile(self.refused, 99))}"
        return text + f"; {self.unavailable} database_unavailable, {self.errors} errors"


async def overload_result(base_url: str, rate: float, seconds: float) -> OverloadResult:
    """POST /tickets at `rate` in 20 tenants, each request on an idle connection or a new one."""
    name = f"HTTP POST /tickets at {OVERLOAD_FACTOR}x the highest rate, open loop, 20 tenants"
    log.info("measuring %s (%.0f/s) for %.0fs", name, rate, seconds)
    result = OverloadResult(name, seconds)
    reporters = [bearer(f"bench{uuid.uuid4().hex[:8]}", "reporter", "bench-reporter") for _ in range(20)]
    idle: list[Connection] = []
    opened = 0

    async def one(n: int) -> None:
        nonlocal opened
        if idle:
            http = idle.pop()
        elif opened < MAX_CONNECTIONS:
            opened += 1
            http = await Connection.open(base_url)
        else:
            result.errors += 1
            return
        body = {"title": f"Flood {n}", "description": "Water in the street", "category": "water"}
        began = time.perf_counter()
        try:
            answer = await http.send("POST", "/api/v1/tickets", body, reporters[n % len(reporters)])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            http.close()
            opened -= 1
            return
        took = time.perf_counter() - began
        idle.append(http)
        if answer.status_code == 201:
            result.accepted.append(took)
        elif answer.status_code == 503 and answer.json()["code"] == "overloaded":
            result.refused.append(took)
        elif answer.status_code == 503:
            result.unavailable += 1
        else:
            result.errors += 1

    sent: set[asyncio.Task] = set()
    started = next_at = time.perf_counter()
    while (now := time.perf_counter()) < started + seconds:
        while next_at <= now:  # behind: send what was due at once, as an open loop does
            task = asyncio.create_task(one(result.offered))
            sent.add(task)
            task.add_done_callback(sent.discard)
            result.offered += 1
            next_at += 1 / rate
        await asyncio.sleep(max(next_at - time.perf_counter(), 0))
    await asyncio.gather(*sent)
    result.seconds = time.perf_counter() - started
    for http in idle:
        http.close()
    log.info("  %s", result.line(1.0))
    return result


def http_results(database_url: str, data_dir: Path, seconds: float, workers: int | None) -> list[Result | OverloadResult]:
    with running_service(database_url, data_dir, workers) as (base_url, nats_url):
        results = []
        for clients in (16, 64):
            for tenants in (1, 20):
                for mix in (False, True):
                    what = "open and change status" if mix else "POST /tickets"
                    name = f"HTTP {what}, {clients} clients, {tenants} tenant{'s' if tenants > 1 else ''}"
                    scenario = Scenario(name, clients, tenants, mix)
                    wait_until_projected(database_url)
                    results.append(asyncio.run(http_result(scenario, base_url, Followers(database_url, nats_url), seconds)))
        highest = max(r.rate for r in results)
        wait_until_projected(database_url)
        half = Scenario(
            f"HTTP open and change status at half the highest rate ({highest / 2:.0f}/s), 64 clients", 64, 20, True, highest / 2
        )
        results.append(asyncio.run(http_result(half, base_url, Followers(database_url, nats_url), seconds)))
        opens = max(r.rate for r in results if "POST /tickets" in r.name)
        wait_until_projected(database_url)
        return [*results, asyncio.run(overload_result(base_url, OVERLOAD_FACTOR * opens, seconds))]


def wait_until_projected(database_url: str, timeout: float = 180) -> None:
    """Each scenario starts with the projector idle: every event stored so far in the tickets read model."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM docket_events").fetchone()[0]
        while time.monotonic() < deadline:
            if conn.execute("SELECT coalesce(max(notification_id), 0) FROM tickets_tracking").fetchone()[0] >= head:
                return
            time.sleep(0.1)
    log.warning("the projector had not caught up after %.0fs", timeout)


@contextmanager
def running_service(database_url: str, data_dir: Path, workers: int | None) -> Iterator[tuple[str, str]]:
    """`docket serve` as a separate process on the scratch database and an embedded NATS."""
    port = free_port()
    extra = {"DOCKET_API_WORKERS": str(workers)} if workers else {}
    env = service_env(database_url, data_dir, port, **extra)
    log.info("starting `docket serve` on port %s (log: %s)", port, data_dir / "serve.log")
    service = Service(["serve"], env, data_dir / "serve.log")
    try:
        base_url = f"http://127.0.0.1:{port}"
        service.wait_healthy(base_url)
        yield base_url, embedded_nats_url(data_dir, "admin")
    finally:
        service.terminate()
        if problems := logged_problems(data_dir / "serve.log"):  # a role that failed and restarted, say
            log.warning("`docket serve` logged warnings or errors; the last distinct ones:\n  %s", "\n  ".join(problems))


def embedded_nats_url(data_dir: Path, user: str) -> str:
    """The URL of `docket serve`'s embedded nats-server as one of its users, from the config and
    passwords it keeps in its data dir (its log, at WARNING, does not say)."""
    listen = re.search(r"^listen: (\S+)$", (data_dir / "nats-server.conf").read_text(), re.MULTILINE).group(1)
    return EmbeddedNats(f"nats://{listen}", json.loads((data_dir / PASSWORDS).read_text())).url_for(user)


# Rebuild ----------------------------------------------------------------------------------------


def rebuild_rate(database_url: str) -> tuple[int, float]:
    app = Docket(env=eventsourcing_env(database_url, CIPHER_KEY))
    try:
        ensure_tables(app.recorder.datastore)
        events = count_events(app, PROJECTIONS["tickets"].topics)
        log.info("rebuilding the tickets projection over %d events", events)
        started = time.perf_counter()
        rebuild(app, "tickets")
        return events, time.perf_counter() - started
    finally:
        app.close()


# The run --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each measurement runs (default 5)")
    parser.add_argument("--workers", type=int, help="API processes of `docket serve` (default: one per core)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    tune_garbage_collector()  # as every docket process does: the use cases and the rebuild run here
    server = database_server()
    log.info("PostgreSQL: %s", safe(server) if server else "embedded, in a temporary directory")
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as tmp, fresh_database(server, Path(tmp)) as url:
        baseline = raw_insert_commit(url, args.seconds)
        results = use_case_results(url, args.seconds) + http_results(url, Path(tmp), args.seconds, args.workers)
        events, rebuilt_in = rebuild_rate(url)
    print()
    print(f"baseline, raw psycopg INSERT+COMMIT, one connection: {baseline:.0f}/s")
    for result in results:
        print(result.line(baseline))
    print(f"rebuild of the tickets projection: {events} events in {rebuilt_in:.1f}s = {events / rebuilt_in:.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
