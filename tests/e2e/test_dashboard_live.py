"""`docket serve` on the embedded defaults: a dashboard watching the NATS key-value bucket sees its
figures follow what happens over HTTP, and a burst of tickets gives a handful of updates, not one each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import nats
import pytest

from tests.e2e.processes import Service, docket, docket_env
from workers.embedded import free_port

pytestmark = pytest.mark.e2e

TENANT = "city"
BUCKET, KEY = "DOCKET_DASHBOARD", f"{TENANT}.dashboard.metrics"
BURST = 30


class Watched:
    """Every value the watcher delivers for the key, with when it arrived."""

    def __init__(self, watcher) -> None:
        self.values: list[tuple[float, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._collect(watcher))

    async def _collect(self, watcher) -> None:
        async for entry in watcher:
            if entry is not None and entry.value:  # None marks the end of the values already stored
                self.values.append((time.monotonic(), msgspec.json.decode(entry.value)))
                self._changed.set()

    async def until(self, check: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """The first value from now on, or the latest one, that passes the check."""
        deadline = time.monotonic() + timeout
        while True:
            if self.values and check(self.values[-1][1]):
                return self.values[-1][1]
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no value of {KEY} passed the check within {timeout}s; seen: {[v for _, v in self.values]}")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    def since(self, moment: float) -> list[dict[str, Any]]:
        return [value for at, value in self.values if at >= moment]

    def stop(self) -> None:
        self._task.cancel()


async def bucket(js, timeout: float = 15.0):
    """The bucket, once the publisher has made it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def watch_while_working(base: str, nats_url: str, reporter: dict[str, str], manager: dict[str, str]) -> None:
    client = await nats.connect(nats_url)
    try:
        kv = await bucket(client.jetstream())
        watched = Watched(await kv.watch(KEY))
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            opened = await http.post(
                "/api/v1/tickets", json={"title": "Pothole", "description": "Deep", "category": "roads", "ward": "w1"}, headers=reporter
            )
            assert opened.status_code == 201, opened.text
            ticket = opened.json()["id"]

            moved = await http.patch(f"/api/v1/tickets/{ticket}/status", json={"status": "in_progress"}, headers=manager)
            assert moved.status_code == 200, moved.text
            figures = await watched.until(lambda m: m["total_open"] == 1 and m["avg_response_hours"] is not None)
            assert figures == {
                "total_open": 1,
                "total_resolved": 0,
                "sla_compliance_percent": None,
                "avg_response_hours": 0.0,
                "sla_breaches": 0,
            }

            resolved = await http.patch(f"/api/v1/tickets/{ticket}/status", json={"status": "resolved"}, headers=manager)
            assert resolved.status_code == 200, resolved.text
            figures = await watched.until(lambda m: m["total_resolved"] == 1)
            assert (figures["total_open"], figures["total_resolved"]) == (0, 1)

            burst_started = time.monotonic()
            for i in range(BURST):
                response = await http.post(
                    "/api/v1/tickets", json={"title": f"Leak {i}", "description": "d", "category": "water"}, headers=reporter
                )
                assert response.status_code == 201, response.text
            burst_took = time.monotonic() - burst_started
            await watched.until(lambda m: m["total_open"] == BURST)
            await asyncio.sleep(3)  # any update still to come
        updates = watched.since(burst_started)
        assert updates[-1]["total_open"] == BURST and updates[-1]["total_resolved"] == 1
        # One update a second at most, whatever the number of events.
        assert len(updates) <= burst_took + 2, (len(updates), burst_took)
        assert len(updates) < BURST / 3
        assert [u["total_open"] for u in updates] == sorted(u["total_open"] for u in updates)
        watched.stop()
    finally:
        await client.close()


def test_a_dashboard_watching_the_bucket_sees_the_metrics_follow_status_changes_over_http_and_a_burst_coalesced(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = docket_env(tmp_path / "data", DOCKET_HTTP_PORT=str(port))
    serve = Service(["serve"], env, tmp_path / "serve.log")
    try:
        serve.wait_healthy(base)
        reporter = {"Authorization": "Bearer " + docket("token", "--tenant", TENANT, "--role", "reporter", "--sub", "ann", env=env).strip()}
        manager = {"Authorization": "Bearer " + docket("token", "--tenant", TENANT, "--role", "manager", "--sub", "bo", env=env).strip()}
        nats_url = serve.nats_url(tmp_path / "data")
        asyncio.run(watch_while_working(base, nats_url, reporter, manager))
        assert serve.terminate() == 0
    finally:
        if serve.process.poll() is None:
            serve.kill()
