"""The API's own bound: a handler held past DOCKET_DB_TIMEOUT (a query on a connection to a server
that stopped answering, which nothing in the client library ends) is answered 503 in time."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from litestar import Litestar, get, post
from litestar.testing import TestClient

from api.limits import GRACE, READ_TIMED_OUT, Limits, request_limits

BOUND = 0.3
held = threading.Event()


@get("/read", sync_to_thread=True)
def read() -> dict[str, str]:
    held.wait(10)
    return {"read": "late"}


@post("/write", sync_to_thread=True)
def write() -> dict[str, str]:
    held.wait(10)
    return {"written": "late"}


@get("/quick", sync_to_thread=False)
def quick() -> dict[str, str]:
    return {"quick": "yes"}


@pytest.fixture
def http() -> Iterator[TestClient]:
    app = Litestar([read, write, quick], middleware=[request_limits(Limits(db_timeout=BOUND, max_waiting_commands=10))])
    with TestClient(app) as test_client:
        try:
            yield test_client
        finally:
            held.set()  # the handlers' threads, which the bound answered for but could not stop
    held.clear()


def test_a_read_held_past_the_bound_is_answered_503_in_time(http):
    began = time.monotonic()
    answer = http.get("/read")
    took = time.monotonic() - began
    assert (answer.status_code, answer.json()) == (503, {"status_code": 503, "code": "database_unavailable", "message": READ_TIMED_OUT})
    assert answer.headers["retry-after"] == "5"
    assert BOUND <= took < BOUND + GRACE + 0.5


def test_a_command_held_past_the_bound_is_told_it_may_or_may_not_have_been_saved(http):
    answer = http.post("/write", json={})
    assert answer.status_code == 503
    assert answer.json()["code"] == "database_unavailable"
    assert "may or may not have been saved" in answer.json()["message"]


def test_a_request_within_the_bound_is_untouched(http):
    assert http.get("/quick").json() == {"quick": "yes"}


def test_a_command_answered_no_longer_counts_as_waiting_while_its_handler_finishes():
    """A client sends its next command as soon as it has the answer to the last; the last's task may
    still be finishing then. Counting it too would refuse that client 503 `overloaded` while no
    more commands wait than there are clients."""

    async def scenario() -> list[int]:
        finishing, statuses = asyncio.Event(), []

        async def app(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            await finishing.wait()  # what the framework still does after the answer

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        limited = request_limits(Limits(max_waiting_commands=1))(app)
        scope = {"type": "http", "method": "POST", "path": "/write"}
        first = asyncio.create_task(limited(scope, receive, send))
        while not statuses:
            await asyncio.sleep(0)
        second = asyncio.create_task(limited(scope, receive, send))  # the same client's next command
        await asyncio.sleep(0.05)
        finishing.set()
        await asyncio.gather(first, second)
        return statuses

    assert asyncio.run(scenario()) == [201, 201]
