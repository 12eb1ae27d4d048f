"""Liveness and readiness: live checks nothing; ready (and /health) answers within its bound,
503 with Retry-After when the database does not answer or refuses."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.auth import TokenVerifier
from api.services import Services
from commands.attachments import FileBlobStore
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


def test_ready_is_503_naming_the_kind_of_failure_when_the_database_refuses(app, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # bound, never listening: connections are refused
        with client_on(app, f"postgresql://postgres@127.0.0.1:{closed_port}/docket", tmp_path) as refused:
            answer = refused.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["database"] == "OperationalError"
    assert "127.0.0.1" not in answer.text  # the error's message, with its addresses, stays in the log
