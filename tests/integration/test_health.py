"""Liveness and readiness: live checks nothing; ready (and /health) answers within its bound,
503 with Retry-After when the database or NATS does not answer or refuses, and says how far the
projections and the relay lag, naming a stalled relay."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.auth import TokenVerifier
from api.services import Services
from commands.attachments import FileBlobStore
from commands.relay_stalls import clear_relay_stall, create_relay_stalls_table, record_relay_stall
from projections.operations import PROJECTIONS, RELAY
from projections.sql import engine_for
from tests.conftest import JWT_SECRET


def test_a_running_service_is_live_and_ready(client):
    assert client.get("/health/live").json() == {"status": "live"}
    for path in ("/health/ready", "/health"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.json()["database"] == "ok"


@pytest.fixture
def silent_database() -> Iterator[tuple[str, socket.socket]]:
    """A TCP port that takes connections and never answers, as a hung database server does.
    Closing it resets the connections still waiting, so no thread stays blocked on one."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/docket", listener


def client_on(app, database_url: str, tmp_path) -> TestClient:
    services = Services(app=app, engine=engine_for(database_url), tokens=TokenVerifier(JWT_SECRET), blobs=FileBlobStore(tmp_path))
    return TestClient(create_app(services))


def test_ready_is_503_within_two_seconds_when_the_database_does_not_answer_and_live_stays_200(app, silent_database, tmp_path):
    url, listener = silent_database
    with client_on(app, url, tmp_path) as silent:
        started = time.monotonic()
        answer = silent.get("/health/ready")
        assert time.monotonic() - started < 2
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.json() == {"status": "unavailable", "database": "no answer within 1s"}
        assert silent.get("/health").status_code == 503
        assert silent.get("/health/live").status_code == 200
        listener.close()  # before the client stops: it waits for the threads still connecting


def test_probes_that_come_together_share_one_reading_of_the_database(app, silent_database, tmp_path):
    url, listener = silent_database
    services = Services(app=app, engine=engine_for(url), tokens=TokenVerifier(JWT_SECRET), blobs=FileBlobStore(tmp_path))

    async def probe_together(count: int) -> tuple[list[int], int]:
        transport = httpx.ASGITransport(create_app(services))  # requests handled side by side, as a server does
        async with httpx.AsyncClient(transport=transport, base_url="http://docket") as probes:
            answers = await asyncio.gather(*(probes.get("/health/ready") for _ in range(count)))
        connections = len(waiting_connections(listener))
        listener.close()  # the reading's thread, still connecting, fails now and the loop can close
        return [answer.status_code for answer in answers], connections

    try:
        assert asyncio.run(probe_together(8)) == ([503] * 8, 1)  # one reading: one connection to the database, not eight
    finally:
        services.engine.dispose()


def waiting_connections(listener: socket.socket) -> list[socket.socket]:
    """The connections made to the listener that it has not taken yet (each is closed)."""
    listener.setblocking(False)
    taken = []
    with contextlib.suppress(BlockingIOError):
        while True:
            taken.append(listener.accept()[0])
    for connection in taken:
        connection.close()
    return taken


def test_ready_is_503_naming_the_kind_of_failure_when_the_database_refuses(app, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # bound, never listening: connections are refused
        with client_on(app, f"postgresql://postgres@127.0.0.1:{closed_port}/docket", tmp_path) as refused:
            answer = refused.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["database"] == "OperationalError"
    assert "127.0.0.1" not in answer.text  # the error's message, with its addresses, stays in the log


@pytest.fixture
def silent_port() -> Iterator[tuple[int, socket.socket]]:
    """A TCP port that takes connections and never says a word, as a hung server does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1], listener


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed at once: connections are refused


def client_with_nats(app, database_url: str, nats_url: str, tmp_path) -> TestClient:
    services = Services(
        app=app, engine=engine_for(database_url), tokens=TokenVerifier(JWT_SECRET), blobs=FileBlobStore(tmp_path), nats_url=nats_url
    )
    return TestClient(create_app(services))


def test_ready_checks_nats_and_says_how_far_each_projection_and_the_relay_lag(app, database_url, nats_server, tmp_path):
    with client_with_nats(app, database_url, nats_server.admin_url, tmp_path) as checked:
        answer = checked.get("/health/ready")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["database"], body["nats"]) == ("ok", "ok")
    assert set(body["lag"]) == {*PROJECTIONS, "relay"}
    assert all(isinstance(lag, int) and lag >= 0 for lag in body["lag"].values())
    assert "admin" not in answer.text  # the URL's credentials stay where they were given


def test_ready_is_503_naming_nats_within_two_seconds_when_nats_does_not_answer(app, database_url, silent_port, tmp_path):
    port, listener = silent_port
    with client_with_nats(app, database_url, f"nats://127.0.0.1:{port}", tmp_path) as checked:
        started = time.monotonic()
        answer = checked.get("/health/ready")
        assert time.monotonic() - started < 2
        assert checked.get("/health/live").status_code == 200
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    body = answer.json()
    assert (body["status"], body["database"], body["nats"]) == ("unavailable", "ok", "no answer within 1s")


def test_ready_is_503_naming_nats_and_the_kind_of_failure_when_no_nats_server_listens(app, database_url, tmp_path):
    with client_with_nats(app, database_url, f"nats://127.0.0.1:{closed_port()}", tmp_path) as checked:
        answer = checked.get("/health")
    assert answer.status_code == 503
    assert answer.json()["nats"] == "ConnectionRefusedError"
    assert "127.0.0.1" not in answer.text


def test_ready_needs_one_server_of_a_nats_cluster_to_answer(app, database_url, nats_server, silent_port, tmp_path):
    port, _ = silent_port
    servers = f"nats://127.0.0.1:{closed_port()},nats://127.0.0.1:{port},{nats_server.admin_url}"
    with client_with_nats(app, database_url, servers, tmp_path) as checked:
        started = time.monotonic()
        answer = checked.get("/health/ready")
        assert time.monotonic() - started < 1  # the one that answers is not kept waiting for the silent one
    assert answer.status_code == 200 and answer.json()["nats"] == "ok"


def test_a_stalled_relay_leaves_the_service_ready_but_degraded_naming_it_and_its_lag(app, database_url, tmp_path, client, auth):
    client.post("/api/v1/tickets", json={"title": "Leak", "description": "d", "category": "water"}, headers=auth("reporter"))
    datastore = app.recorder.datastore
    create_relay_stalls_table(datastore)
    record_relay_stall(datastore, RELAY, 0, "no acknowledgement within 10s")
    try:
        with client_on(app, database_url, tmp_path) as checked:
            answer = checked.get("/health/ready")
            metrics = checked.get("/metrics").text
    finally:
        clear_relay_stall(datastore, RELAY)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    stalled = body["stalled_relay"]
    assert (stalled["name"], stalled["position"], stalled["error"]) == ("relay", 0, "no acknowledgement within 10s")
    assert stalled["lag"] == body["lag"]["relay"] > 0
    assert re.search(r"^docket_relay_stalled_seconds [0-9.e+-]+$", metrics, re.M)
    assert float(re.search(r"^docket_relay_stalled_seconds (\S+)$", metrics, re.M).group(1)) > 0
    assert client.get("/health/ready").json()["status"] == "ok"
