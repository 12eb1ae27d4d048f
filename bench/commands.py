"""Commands per second through the use cases and over HTTP, each beside raw psycopg
INSERT+COMMIT per second on the same database in the same run, as a ratio.

    .venv/bin/python bench/commands.py [--seconds N | --count N]

The database: a scratch database, dropped at the end, on the server DOCKET_DATABASE_URL names,
else on the local server at 127.0.0.1:5432 when it answers, else on an embedded PostgreSQL in a
temporary directory. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers that find and start servers live in tests/

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.auth import issue_token  # noqa: E402
from commands.app import Docket, eventsourcing_env  # noqa: E402
from commands.structs import ChangeStatus, OpenTicket  # noqa: E402
from commands.tickets import change_status, open_ticket  # noqa: E402
from domain.permissions import Actor, Role  # noqa: E402
from tests.e2e.processes import Service, docket_env  # noqa: E402
from tests.servers import fresh_database  # noqa: E402
from workers.embedded import free_port  # noqa: E402
from workers.settings import load_settings  # noqa: E402

log = logging.getLogger("bench")

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = secrets.token_urlsafe(48)
CIPHER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
DEFAULT_SECONDS = 5.0
PROGRESS_EVERY = 1.0  # seconds
# A ticket moves open -> in_progress first, then back and forth between these two.
NEXT_STATUS = {"open": "in_progress", "in_progress": "escalated", "escalated": "in_progress"}


@dataclass(frozen=True)
class Budget:
    """How long each measurement runs: a number of seconds, or a number of operations."""

    seconds: float | None
    count: int | None

    def spent(self, done: int, elapsed: float) -> bool:
        return done >= self.count if self.count is not None else elapsed >= (self.seconds or 0)

    def __str__(self) -> str:
        return f"{self.count} operations" if self.count is not None else f"{self.seconds:g}s"


@dataclass(frozen=True)
class Rate:
    name: str
    operations: int
    seconds: float
    windows: tuple[float, ...] = ()  # the rate in each full second of the run

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds

    def trend(self) -> str:
        if len(self.windows) < 2:
            return ""
        return f" (first second {self.windows[0]:.0f}/s, last {self.windows[-1]:.0f}/s)"


def measure(name: str, operation: Callable[[int], object], budget: Budget) -> Rate:
    """Calls operation(0), operation(1), ... until the budget is spent, logging the rate of
    each second as it goes (a rate that falls as work accumulates shows here)."""
    log.info("measuring %s for %s", name, budget)
    done = reported = 0
    windows: list[float] = []
    start = last_report = time.perf_counter()
    while not budget.spent(done, time.perf_counter() - start):
        operation(done)
        done += 1
        now = time.perf_counter()
        if now - last_report >= PROGRESS_EVERY:
            windows.append((done - reported) / (now - last_report))
            log.info("  %s: %d done, %.0f/s in the last second", name, done, windows[-1])
            last_report, reported = now, done
    rate = Rate(name, done, time.perf_counter() - start, tuple(windows))
    log.info("%s: %d in %.2fs = %.0f/s%s", name, rate.operations, rate.seconds, rate.per_second, rate.trend())
    return rate


def raw_insert_commit(database_url: str, budget: Budget) -> Rate:
    """The baseline: one single-row INSERT and one COMMIT per operation, into a scratch table."""
    payload = secrets.token_bytes(300)  # about the size of one stored, encrypted event
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload bytea NOT NULL)")
        conn.commit()

        def insert(_: int) -> None:
            conn.execute("INSERT INTO bench_raw (payload) VALUES (%s)", (payload,))
            conn.commit()

        rate = measure("raw INSERT+COMMIT", insert, budget)
        conn.execute("DROP TABLE bench_raw")
        conn.commit()
    return rate


def use_case_rates(database_url: str, budget: Budget) -> list[Rate]:
    app = Docket(env=eventsourcing_env(database_url, CIPHER_KEY))
    try:
        tenant = f"bench{uuid.uuid4().hex[:8]}"
        reporter = Actor(id="bench-reporter", tenant=tenant, role=Role.REPORTER)
        manager = Actor(id="bench-manager", tenant=tenant, role=Role.MANAGER)
        tickets: list = []

        def open_one(i: int) -> None:
            command = OpenTicket(actor=reporter, title=f"Leak {i}", description="Water in the street", category="water")
            tickets.append(open_ticket(app, command).id)

        opened = measure("open_ticket via use case", open_one, budget)
        statuses = dict.fromkeys(tickets, "open")

        def change_one(i: int) -> None:
            ticket_id = tickets[i % len(tickets)]
            statuses[ticket_id] = NEXT_STATUS[statuses[ticket_id]]
            change_status(app, ChangeStatus(actor=manager, ticket_id=ticket_id, status=statuses[ticket_id], note="bench"))

        changed = measure("change_status via use case", change_one, budget)
        return [opened, changed]
    finally:
        app.close()


def http_rates(database_url: str, budget: Budget, data_dir: Path) -> list[Rate]:
    with running_api(database_url, data_dir) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        tenant = f"bench{uuid.uuid4().hex[:8]}"
        reporter = bearer(tenant, "reporter", "bench-reporter")
        manager = bearer(tenant, "manager", "bench-manager")
        tickets: list[str] = []

        def open_one(i: int) -> None:
            body = {"title": f"Leak {i}", "description": "Water in the street", "category": "water"}
            answer = client.post("/api/v1/tickets", json=body, headers=reporter)
            answer.raise_for_status()
            tickets.append(answer.json()["id"])

        opened = measure("POST /tickets over HTTP", open_one, budget)
        statuses = dict.fromkeys(tickets, "open")

        def change_one(i: int) -> None:
            ticket_id = tickets[i % len(tickets)]
            statuses[ticket_id] = NEXT_STATUS[statuses[ticket_id]]
            body = {"status": statuses[ticket_id], "note": "bench"}
            client.patch(f"/api/v1/tickets/{ticket_id}/status", json=body, headers=manager).raise_for_status()

        changed = measure("PATCH /tickets/{id}/status over HTTP", change_one, budget)
        return [opened, changed]


@contextmanager
def running_api(database_url: str, data_dir: Path) -> Iterator[str]:
    """`docket api` as a separate process, as it runs in production; logs only warnings."""
    port = free_port()
    env = docket_env(
        data_dir,
        DOCKET_DATABASE_URL=database_url,
        DOCKET_JWT_SECRET=JWT_SECRET,
        DOCKET_CIPHER_KEY=CIPHER_KEY,
        DOCKET_HTTP_PORT=str(port),
        DOCKET_LOG_LEVEL="WARNING",
    )
    log.info("starting `docket api` on port %s (log: %s)", port, data_dir / "api.log")
    service = Service(["api"], env, data_dir / "api.log")
    try:
        base_url = f"http://127.0.0.1:{port}"
        service.wait_healthy(base_url)
        yield base_url
    finally:
        service.terminate()


def bearer(tenant: str, role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, tenant=tenant, role=role, sub=sub)}"}


def database_server() -> str | None:
    """The server to make the scratch database on; None for an embedded one."""
    # The settings module is the one reader of the environment; the secrets given here keep it
    # from generating and storing any of its own.
    settings = load_settings({**os.environ, "DOCKET_JWT_SECRET": JWT_SECRET, "DOCKET_CIPHER_KEY": CIPHER_KEY})
    if settings.database_url:
        return settings.database_url
    try:
        psycopg.connect(LOCAL_SERVER, connect_timeout=2).close()
    except psycopg.OperationalError:
        return None
    return LOCAL_SERVER


def report(baseline: Rate, rates: list[Rate]) -> str:
    lines = [f"{baseline.name}: {baseline.per_second:.0f}/s (the baseline: {baseline.operations} in {baseline.seconds:.1f}s)"]
    for rate in rates:
        ratio = rate.per_second / baseline.per_second
        lines.append(f"{rate.name}: {rate.per_second:.0f}/s = {ratio:.2f}x {baseline.name}{rate.trend()}")
    return "\n".join(lines)


def parse_budget(argv: list[str] | None) -> Budget:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seconds", type=float, help=f"how long each measurement runs (default {DEFAULT_SECONDS:g})")
    group.add_argument("--count", type=int, help="how many operations each measurement makes")
    args = parser.parse_args(argv)
    if args.count is not None:
        if args.count < 1:
            parser.error("--count must be at least 1")
        return Budget(seconds=None, count=args.count)
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be positive")
    return Budget(seconds=args.seconds or DEFAULT_SECONDS, count=None)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("workers.embedded").setLevel(logging.INFO)
    budget = parse_budget(argv)
    server = database_server()
    log.info("PostgreSQL: %s", safe(server) if server else "embedded, in a temporary directory")
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as tmp, fresh_database(server, Path(tmp)) as url:
        log.info("scratch database %s (dropped at the end)", make_url(url).database)
        baseline = raw_insert_commit(url, budget)
        rates = use_case_rates(url, budget) + http_rates(url, budget, Path(tmp))
    print()
    print(report(baseline, rates))
    return 0


def safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
