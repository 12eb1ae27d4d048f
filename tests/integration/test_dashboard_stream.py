"""`GET /api/v1/dashboard/stream`: the dashboard's figures as Server-Sent Events, scoped like the GET
endpoints, sent on connecting and again when the projector publishes new ones to the bucket.

The API runs under uvicorn on a loopback port, its streams following `DOCKET_DASHBOARD` as the
NATS user `dashboard`; the projector's publisher runs beside it, as the user `projector`."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from api.app import create_app
from api.auth import TokenVerifier, issue_token
from api.dashboard_feed import DashboardFeed
from api.services import Services
from commands.attachments import FileBlobStore
from tests.conftest import JWT_SECRET
from workers.embedded import free_port
from workers.publisher import run_publisher
from workers.relay import connect_nats

STREAM = "/api/v1/dashboard/stream"
VIEWS = ("metrics", "volume", "sla", "workload")
HEARTBEAT = 0.5


class LiveApi:
    """The API and the dashboard publisher in one event loop on a thread of their own."""

    def __init__(self, services: Services, projector_url: str) -> None:
        self.services = services
        self.base = f"http://127.0.0.1:{free_port()}"
        self._projector_url = projector_url
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="live-api")
        self._thread.start()
        assert self._ready.wait(30), "the API did not start"

    async def _run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        port = int(self.base.rsplit(":", 1)[1])
        server = uvicorn.Server(uvicorn.Config(create_app(self.services), host="127.0.0.1", port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        publishing = asyncio.create_task(run_publisher(self.services.engine, self._projector_url, self._stop, interval=0.2))
        while not server.started:
            await asyncio.sleep(0.05)
        self._ready.set()
        await self._stop.wait()
        self.services.dashboard_feed.close()
        server.should_exit = True
        await asyncio.gather(serving, publishing)

    def close_feed(self) -> None:
        self.loop.call_soon_threadsafe(self.services.dashboard_feed.close)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def live(app, engine, nats_server, projectors, tmp_path) -> Iterator[LiveApi]:
    dashboard_url = nats_server.url_for("dashboard")

    async def connect():
        return await connect_nats(dashboard_url, "test-dashboard-stream", inbox_prefix="_INBOX_dashboard")

    feed = DashboardFeed(connect, retry=0.2, heartbeat=HEARTBEAT)
    services = Services(app=app, engine=engine, tokens=TokenVerifier(JWT_SECRET), blobs=FileBlobStore(tmp_path), dashboard_feed=feed)
    api = LiveApi(services, nats_server.url_for("projector"))
    yield api
    api.stop()


@pytest.fixture
def token(tenant):
    def make(role: str = "manager", ward: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=tenant, role=role, sub=f"{role}-1", ward=ward)}

    return make


class Events:
    """A stream as its client reads it: named events with their JSON, and the comments between."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()
        self.comments = 0

    def next(self) -> tuple[str, Any]:
        name, data = "message", []
        for line in self._lines:
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif line == "" and data:
                return name, msgspec.json.decode("\n".join(data))
        raise EOFError("the stream ended")

    def batch(self) -> dict[str, Any]:
        """The next value of every view: one batch, as the stream sends them."""
        return dict(self.next() for _ in VIEWS)

    def until(self, check, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.batch()
            if check(batch):
                return batch
        raise AssertionError(f"no batch passed the check within {timeout}s")


def stream(http: httpx.Client, headers: dict[str, str], **params: Any):
    return http.stream("GET", STREAM, params=params, headers=headers)


def figures(http: httpx.Client, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    """What the GET endpoints answer the same caller with the same parameters."""
    answers = {view: http.get(f"/api/v1/dashboard/{view}", params=params, headers=headers) for view in VIEWS}
    for view, answer in answers.items():
        assert answer.status_code == 200, (view, answer.text)
    return {view: answer.json() for view, answer in answers.items()}


def open_ticket(http: httpx.Client, headers: dict[str, str], ward: str, category: str = "roads") -> str:
    answer = http.post(
        "/api/v1/tickets", json={"title": "Pothole", "description": "Deep", "category": category, "ward": ward}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def move(http: httpx.Client, headers: dict[str, str], ticket: str, status: str) -> None:
    answer = http.patch(f"/api/v1/tickets/{ticket}/status", json={"status": status}, headers=headers)
    assert answer.status_code == 200, answer.text


def client(live: LiveApi) -> httpx.Client:
    return httpx.Client(base_url=live.base, timeout=httpx.Timeout(10, read=10))


def test_a_stream_sends_what_the_get_endpoints_answer_on_connecting_and_again_when_a_status_changes(live, token, projected):
    manager, reporter = token("manager"), token("reporter")
    with client(live) as http:
        first = open_ticket(http, reporter, "w1")
        open_ticket(http, reporter, "w2", category="water")
        projected()
        with stream(http, manager) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = Events(response)
            assert events.batch() == figures(http, manager)
            move(http, manager, first, "closed")
            changed = events.until(lambda b: b["metrics"]["total_resolved"] == 1)
            assert changed == figures(http, manager)
            assert changed["metrics"]["total_open"] == 1


def test_a_ward_councillors_stream_carries_only_their_wards_figures_whatever_ward_they_ask_for(live, token, projected):
    reporter, manager, councillor = token("reporter"), token("manager"), token("ward_councillor", ward="w1")
    with client(live) as http:
        open_ticket(http, reporter, "w1")
        in_w2 = [open_ticket(http, reporter, "w2"), open_ticket(http, reporter, "w2")]
        projected()
        with stream(http, councillor, ward="w2") as response:
            events = Events(response)
            batch = events.batch()
            assert batch == figures(http, councillor) == figures(http, manager, ward="w1")
            assert batch["metrics"]["total_open"] == 1
            for ticket in in_w2:
                move(http, manager, ticket, "closed")
            open_ticket(http, reporter, "w1")
            later = events.until(lambda b: b["metrics"]["total_open"] == 2)
            assert later == figures(http, manager, ward="w1")
            assert later["metrics"]["total_resolved"] == 0  # the two resolved in w2 are not theirs


def test_a_reporter_is_refused_and_so_is_a_councillor_whose_token_names_no_ward(live, token):
    with client(live) as http:
        refused = http.get(STREAM, headers=token("reporter"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] and refused.json()["message"]
        no_ward = http.get(STREAM, headers=token("ward_councillor"))
        assert (no_ward.status_code, no_ward.json()["code"]) == (403, "no_ward")
        assert http.get(STREAM).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2024-02-30"}, "to"),
        ({"from": "2024-05-02", "to": "2024-05-01"}, "from"),
        ({"view": "pie"}, "view"),
        ({"wards": "w1"}, "wards"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_parameter_before_any_event(live, token, params, field):
    with client(live) as http:
        refused = http.get(STREAM, params=params, headers=token("manager"))
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == field


def test_a_stream_can_ask_for_some_views_and_a_quiet_stream_sends_heartbeats(live, token):
    with client(live) as http, stream(http, token("manager"), view=["sla", "metrics"]) as response:
        events = Events(response)
        assert [events.next()[0], events.next()[0]] == ["metrics", "sla"]
        started = time.monotonic()
        heartbeats = [line for line in itertools.islice(events._lines, 4) if line.startswith(":")]
        assert len(heartbeats) == 2  # each a comment and its blank line, though no figure changed
        assert time.monotonic() - started < HEARTBEAT * 4


def test_a_stream_ends_when_its_client_goes_and_when_the_api_stops(live, token, tenant):
    feed = live.services.dashboard_feed
    with client(live) as http:
        with stream(http, token("manager")) as response:
            events = Events(response)  # held: a reader dropped at once closes the stream as it goes
            events.batch()
            assert feed.listeners(tenant) == 1
        deadline = time.monotonic() + 5
        while feed.listeners(tenant) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert feed.listeners(tenant) == 0

        with stream(http, token("manager")) as response:
            events = Events(response)
            events.batch()
            started = time.monotonic()
            live.close_feed()
            with pytest.raises(EOFError):
                while True:
                    events.next()
            assert time.monotonic() - started < 2


def test_a_stream_ends_when_the_callers_token_expires(live, tenant):
    """A stream is no way to go on reading after the token has run out: it says `expired` and ends
    (connecting again with that token is then the 401 of any request with it)."""
    short = {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=tenant, role="manager", sub="m-1", ttl=2)}
    with client(live) as http:
        with stream(http, short, view=["metrics"]) as response:
            events = Events(response)
            assert events.next()[0] == "metrics"
            started = time.monotonic()
            assert events.next() == ("expired", {"message": "Your token has expired; sign in again."})
            assert time.monotonic() - started < 4
            with pytest.raises(EOFError):
                events.next()
