"""Notifications under a burst: how fast the notifier sends, and how long a citizen waits.

    .venv/bin/python bench/notify.py [--burst 2000] [--clients 32] [--notifiers 1] [--provider-ms 0]

Opens `--burst` municipal tickets (in process), each reporter with a phone of their own, then
moves every one of them to in_progress over HTTP against `docket api`, `--clients` at a time: each
status change makes one WhatsApp message, which `docket relay` and `--notifiers` `docket notifier`
processes (as compose runs them, on an embedded NATS with Docket's users) send to an HTTP server
in this process that speaks the WhatsApp Cloud API (answering after `--provider-ms`). Prints the
burst's commands/s, the notifier's deliveries/s (from the first 2xx to the last message at the
provider) and their ratio (at 1 or more the notifier keeps up), and the lag from each command's
2xx to its message reaching the provider, p50 and p99. The database: a scratch one, dropped at the
end, on DOCKET_DATABASE_URL's server, else 127.0.0.1:5432, else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers that find and start servers live in tests/

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.common import CIPHER_KEY, bearer, database_server, safe, service_env  # noqa: E402
from commands.app import Docket, eventsourcing_env  # noqa: E402
from commands.deliveries import create_delivery_tables  # noqa: E402
from commands.structs import OpenTicket, Reporter  # noqa: E402
from commands.tickets import open_ticket  # noqa: E402
from domain.permissions import Actor, Role  # noqa: E402
from projections.operations import ensure_tables  # noqa: E402
from tests.e2e.processes import Service  # noqa: E402
from tests.notify_servers import PHONE_NUMBER_ID, WHATSAPP_TOKEN, Providers  # noqa: E402
from tests.servers import fresh_database  # noqa: E402
from workers.embedded import embedded_nats, free_port  # noqa: E402

log = logging.getLogger("bench")
TENANT = "benchnotify"


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def open_tickets(url: str, count: int) -> dict[str, str]:
    """`count` municipal tickets, each reporter with a phone: ticket id -> phone."""
    app = Docket(env=eventsourcing_env(url, CIPHER_KEY))
    try:
        ensure_tables(app.recorder.datastore)
        create_delivery_tables(app.recorder.datastore)
        phones = [f"+2784{n:07d}" for n in random.sample(range(10**7), count)]

        def open_one(n: int) -> tuple[str, str]:
            reporter = Actor(id=f"citizen-{n}", tenant=TENANT, role=Role.REPORTER)
            command = OpenTicket(
                actor=reporter, title="Leak", description="Water in the street", category="water", reporter=Reporter(phone=phones[n])
            )
            return str(open_ticket(app, command).id), phones[n]

        with ThreadPoolExecutor(16) as pool:
            return dict(pool.map(open_one, range(count)))
    finally:
        app.close()


def move_all(base: str, tickets: list[str], clients: int) -> tuple[dict[str, float], dict[str, float], int]:
    """Every ticket to in_progress over HTTP: when each 2xx came (monotonic, and by the wall
    clock), and the errors."""
    answered: dict[str, float] = {}
    answered_at: dict[str, float] = {}
    errors = 0
    lock = threading.Lock()
    headers = bearer(TENANT, "manager", "bench-manager")
    shares = [tickets[n::clients] for n in range(clients)]

    def client(mine: list[str]) -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=30) as http:
            for ticket_id in mine:
                response = http.patch(f"/api/v1/tickets/{ticket_id}/status", json={"status": "in_progress"}, headers=headers)
                with lock:
                    if response.status_code == 200:
                        answered[ticket_id] = time.monotonic()
                        answered_at[ticket_id] = time.time()
                    else:
                        errors += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, shares))
    return answered, answered_at, errors


def serve_provider(pipe: Connection, delay: float) -> None:
    """The provider, in a process of its own: the bench's clients must not slow it down. Sends its
    URL, then, when asked, when each accepted message arrived (CLOCK_MONOTONIC is the machine's)."""
    with Providers() as providers:
        providers.delay = delay
        pipe.send(providers.base_url)
        while pipe.recv() == "report":
            pipe.send([(r.to, r.at) for r in providers.accepted("whatsapp")])


@contextmanager
def provider_process(delay: float) -> Iterator[tuple[str, Callable[[], dict[str, float]]]]:
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=serve_provider, args=(theirs, delay), daemon=True)
    process.start()
    base_url = ours.recv()

    def received() -> dict[str, float]:
        ours.send("report")
        return dict(ours.recv())

    try:
        yield base_url, received
    finally:
        ours.send("stop")
        process.join(5)


def run(url: str, tmp: Path, burst: int, clients: int, notifiers: int, provider_ms: float) -> None:
    log.info("opening %d tickets", burst)
    phones = open_tickets(url, burst)
    with embedded_nats(tmp / "nats") as nats, provider_process(provider_ms / 1000) as (provider_url, received_by_provider):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        common = {
            "DOCKET_WHATSAPP_URL": f"{provider_url}/v21.0",
            "DOCKET_WHATSAPP_TOKEN": WHATSAPP_TOKEN,
            "DOCKET_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "DOCKET_NOTIFY_RATE_WHATSAPP": "100000",
        }
        services = [Service(["api"], service_env(url, tmp, port, **common), tmp / "api.log")]
        # The relay and notifiers log at INFO: a few lines at start, which say when they are ready.
        env = {**service_env(url, tmp, port, DOCKET_NATS_URL=nats.url_for("relay"), **common), "DOCKET_LOG_LEVEL": "INFO"}
        services.append(Service(["relay"], env, tmp / "relay.log"))
        for n in range(notifiers):
            env = {**service_env(url, tmp, port, DOCKET_NATS_URL=nats.url_for("notifier"), **common), "DOCKET_LOG_LEVEL": "INFO"}
            services.append(Service(["notifier"], env, tmp / f"notifier-{n}.log"))
        try:
            services[0].wait_healthy(base)
            for service in services[1:]:
                service.wait_for_log(r"relay publishing|through durable consumer notifier")
            time.sleep(2)  # the openings relayed and read (they notify nobody)
            log.info("moving %d tickets with %d clients", burst, clients)
            began = time.monotonic()
            answered, answered_at, errors = move_all(base, list(phones), clients)
            commands_took = time.monotonic() - began
            deadline = time.monotonic() + 300
            while len(received := received_by_provider()) < len(answered) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            for service in services:
                service.terminate()
    lags = [received[phones[t]] - at for t, at in answered.items() if phones[t] in received]
    first_answer = min(answered.values())
    sending_took = max(received.values()) - first_answer
    commands_rate, deliveries_rate = len(answered) / commands_took, len(received) / sending_took
    print()
    print(
        f"burst of {burst} status changes over HTTP, {clients} clients: {commands_rate:.0f} commands/s, {errors} errors;"
        f" {notifiers} notifier(s): {len(received)} WhatsApp messages at {deliveries_rate:.0f} deliveries/s"
        f" = {deliveries_rate / commands_rate:.2f}x the commands;"
        f" lag from 2xx to the provider's request p50 {percentile(lags, 50) * 1000:.0f} ms p99 {percentile(lags, 99) * 1000:.0f} ms"
        f" (provider answering in {provider_ms:g} ms)"
    )
    recorded, sent = waits_in_the_record(url, answered_at)
    print(
        f"  of which: from the 2xx to its delivery recorded p50 {percentile(recorded, 50) * 1000:.0f} ms"
        f" p99 {percentile(recorded, 99) * 1000:.0f} ms (relay, JetStream, planning); from recorded to sent"
        f" p50 {percentile(sent, 50) * 1000:.0f} ms p99 {percentile(sent, 99) * 1000:.0f} ms (the sender)"
    )


def waits_in_the_record(url: str, answered_at: dict[str, float]) -> tuple[list[float], list[float]]:
    """Where the lag went, by the delivery record's times (wall clock, as `answered_at`)."""
    query = "SELECT ticket_id, created_at, sent_at FROM notification_deliveries WHERE tenant = %s AND status = 'sent'"
    with psycopg.connect(url) as conn:
        rows = conn.execute(query, (TENANT,)).fetchall()
    recorded = [created.timestamp() - answered_at[str(ticket)] for ticket, created, _ in rows if str(ticket) in answered_at]
    return recorded, [(sent - created).total_seconds() for _, created, sent in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--burst", type=int, default=2000, help="status changes, each one WhatsApp message (default 2000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients (default 32)")
    parser.add_argument("--notifiers", type=int, default=1, help="`docket notifier` processes (default 1)")
    parser.add_argument("--provider-ms", type=float, default=0.0, help="how long the fake provider takes to answer (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    server = database_server()
    log.info("PostgreSQL: %s", safe(server) if server else "embedded, in a temporary directory")
    with tempfile.TemporaryDirectory(prefix="docket-bench-notify-") as tmp, fresh_database(server, Path(tmp)) as url:
        run(url, Path(tmp), args.burst, args.clients, args.notifiers, args.provider_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
