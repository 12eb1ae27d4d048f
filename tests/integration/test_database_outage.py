"""A database that stops answering, or goes away, under load: every request is answered within the
bound, 503 `database_unavailable` with Retry-After, and once it is back every acknowledged command
is in the event store and nothing that was said not to be saved is. Between the API and
PostgreSQL runs a TCP proxy that holds every byte (a server stopped with SIGSTOP) or cuts every
connection (a server that stopped)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.auth import TokenVerifier
from api.limits import GRACE, Limits
from api.services import Services
from commands.app import Docket, eventsourcing_env
from commands.attachments import FileBlobStore
from projections.sql import engine_for
from projections.ticket_tables import LIVE
from tests.conftest import CIPHER_KEY, JWT_SECRET
from tests.e2e.test_serve import eventually
from tests.integration.http_helpers import BASIC, TICKETS
from tests.proxy import Proxy

BOUND = 2.0  # DOCKET_DB_TIMEOUT of the API under test
MARGIN = 1.0  # for a loaded 2-core machine's scheduling
CLIENTS = 4


@dataclass
class Outage:
    client: TestClient
    proxy: Proxy


@pytest.fixture
def outage(app, database_url, tmp_path) -> Iterator[Outage]:
    """An API whose event store and read models are reached through the proxy only."""
    with Proxy(database_url) as proxy:
        # The runner's own limit stays out of the way: the API's is the one under test.
        behind = Docket(env=eventsourcing_env(proxy.url, CIPHER_KEY, timeout=BOUND, pool_size=2), timeout=BOUND, max_waiting=64)
        engine = engine_for(proxy.url, pool_size=2, timeout=BOUND)
        services = Services(
            app=behind,
            engine=engine,
            tokens=TokenVerifier(JWT_SECRET),
            blobs=FileBlobStore(tmp_path / "blobs"),
            limits=Limits(db_timeout=BOUND, max_waiting_commands=CLIENTS),
        )
        try:
            with TestClient(create_app(services), timeout=30) as client:
                yield Outage(client, proxy)
        finally:
            proxy.resume()  # lets the threads still waiting on it finish
            behind.close()
            engine.dispose()


@dataclass
class Answers:
    """What the clients were answered: status, seconds taken, body and Retry-After."""

    items: list[tuple[int, float, dict, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, status: int) -> list[tuple[int, float, dict, str | None]]:
        with self.lock:
            return [a for a in self.items if a[0] == status]


def opening_load(client: TestClient, headers: dict[str, str], answers: Answers, stop: threading.Event) -> list[threading.Thread]:
    def open_tickets() -> None:
        while not stop.is_set():
            began = time.monotonic()
            response = client.post(TICKETS, json=BASIC, headers=headers)
            with answers.lock:
                answers.items.append((response.status_code, time.monotonic() - began, response.json(), response.headers.get("retry-after")))

    threads = [threading.Thread(target=open_tickets) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def test_a_database_that_stops_answering_gets_503s_within_the_bound_and_loses_no_acknowledged_command(
    outage, app, engine, projected, tenant, auth
):
    answers, stop = Answers(), threading.Event()
    threads = opening_load(outage.client, auth("reporter"), answers, stop)
    try:
        assert eventually(lambda: len(answers.of(201)) >= 10), answers.items[-3:]
        outage.proxy.pause()
        paused_at = time.monotonic()
        began = time.monotonic()
        listed = outage.client.get(TICKETS, headers=auth("manager"))
        read_took = time.monotonic() - began
        time.sleep(max(3 * BOUND - (time.monotonic() - paused_at), 0))
        acknowledged_before_resume = len(answers.of(201))
        outage.proxy.resume()
        assert eventually(lambda: len(answers.of(201)) >= acknowledged_before_resume + 10, timeout=30), answers.items[-3:]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    assert listed.status_code == 503, listed.text
    assert listed.json()["code"] == "database_unavailable"
    assert listed.headers["retry-after"]
    assert read_took < BOUND + GRACE + MARGIN

    unavailable = answers.of(503)
    assert unavailable, "no command met the outage"
    assert {status for status, *_ in answers.items} == {201, 503}, {status for status, *_ in answers.items}
    for _, _, body, retry_after in unavailable:
        assert body["code"] == "database_unavailable", body
        assert retry_after
        assert "database" in body["message"] and "127.0.0.1" not in body["message"]
    assert max(took for _, took, *_ in answers.items) < BOUND + GRACE + MARGIN

    # Every 201 is stored; of the rest only those whose callers were told they may have been.
    acknowledged = {body["id"] for _, _, body, _ in answers.of(201)}
    for ticket_id in acknowledged:
        assert app.repository.get(UUID(ticket_id)).tenant == tenant
    maybe = sum("may or may not" in body["message"] for _, _, body, _ in unavailable)
    projected()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(LIVE.tickets).where(LIVE.tickets.c.tenant == tenant)).scalar_one()
    assert len(acknowledged) <= stored <= len(acknowledged) + maybe


def test_a_database_that_goes_away_gets_503s_at_once_and_commands_go_through_when_it_is_back(outage, auth):
    headers = auth("reporter")
    assert outage.client.post(TICKETS, json=BASIC, headers=headers).status_code == 201
    outage.proxy.cut()
    began = time.monotonic()
    refused = outage.client.post(TICKETS, json=BASIC, headers=headers)
    assert time.monotonic() - began < BOUND + GRACE + MARGIN
    assert (refused.status_code, refused.json()["code"]) == (503, "database_unavailable"), refused.text
    assert refused.headers["retry-after"]
    listed = outage.client.get(TICKETS, headers=auth("manager"))
    assert (listed.status_code, listed.json()["code"]) == (503, "database_unavailable"), listed.text

    outage.proxy.resume()
    assert eventually(lambda: outage.client.post(TICKETS, json=BASIC, headers=headers).status_code == 201, timeout=30)


def test_commands_past_the_waiting_limit_are_refused_at_once_as_overloaded(outage, auth):
    headers = auth("reporter")
    assert outage.client.post(TICKETS, json=BASIC, headers=headers).status_code == 201
    outage.proxy.pause()  # the commands already in hold their places until the bound
    answers, stop = Answers(), threading.Event()
    threads = opening_load(outage.client, headers, answers, stop)
    time.sleep(0.3)
    began = time.monotonic()
    refused = outage.client.post(TICKETS, json=BASIC, headers=headers)
    took = time.monotonic() - began
    stop.set()
    outage.proxy.resume()
    for thread in threads:
        thread.join(30)
    assert (refused.status_code, refused.json()["code"]) == (503, "overloaded"), refused.text
    assert refused.headers["retry-after"] == "1"
    assert took < 0.25
