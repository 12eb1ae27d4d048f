"""Nothing waits on NATS for ever: the relay, the dashboard publisher and the SLA scheduler go on
through nats-server being killed (or never answering), log the stall and its end once each, and
the relay's stall shows in /health/ready while it lasts. The publisher goes on through the
database going away too."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from datetime import timedelta

import msgspec
import nats
from nats.js.errors import KeyNotFoundError
from sqlalchemy import text

import workers.relay as relay_module
from commands.loading import load_ticket
from commands.sla import set_sla_policies
from commands.structs import OpenTicket, SetSLAPolicies
from commands.tickets import open_ticket
from projections.operations import RELAY, tracking_recorder
from projections.sql import engine_for
from tests.integration.test_health import client_on, closed_port
from tests.integration.test_relay_outage import kill_and_restart, open_many
from tests.integration.test_sla_scheduler import run_scheduler_until
from tests.proxy import Proxy
from workers.embedded import embedded_nats
from workers.publisher import BUCKET, run_publisher
from workers.relay import Relay, connect_nats


def messages(caplog, logger: str, level: int, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level and r.getMessage().startswith(start)]


class Outage:
    """nats-server killed now and started again, on the same port and store, `down_for` seconds later."""

    def __init__(self, data_dir, down_for: float) -> None:
        self.restarted: list[subprocess.Popen] = []
        self.thread = threading.Thread(target=lambda: self.restarted.append(kill_and_restart(data_dir, down_for)))
        self.thread.start()

    async def over(self) -> None:
        await asyncio.to_thread(self.thread.join)

    def stop_server(self) -> None:
        self.thread.join()
        for process in self.restarted:
            process.terminate()
            process.wait(10)


def relay_stall_row(engine) -> tuple | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT position, error FROM relay_stalls WHERE name = 'relay'")).one_or_none()


async def eventually(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.1)
    return False


def test_a_relay_that_cannot_publish_records_its_stall_once_and_clears_it_when_it_publishes_again(
    app, actor, engine, database_url, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(relay_module, "ACK_TIMEOUT", 1.0)
    caplog.set_level(logging.DEBUG, logger="workers.relay")
    data_dir = tmp_path / "nats"
    tracked = tracking_recorder(app.recorder.datastore, RELAY)
    with embedded_nats(data_dir) as server, client_on(app, database_url, tmp_path) as http:

        async def scenario() -> dict:
            client = await connect_nats(server.url_for("relay"), "relay-under-test")
            stop = asyncio.Event()
            relay = asyncio.create_task(Relay(app, database_url, client.jetstream()).run(stop))
            outage = None
            try:
                await asyncio.to_thread(open_many, app, actor, 5)
                head = app.recorder.max_notification_id()
                assert await eventually(lambda: (tracked.max_tracking_id(app.name) or 0) >= head, 15)
                outage = Outage(data_dir, down_for=5)
                await asyncio.sleep(0.2)
                await asyncio.to_thread(open_many, app, actor, 10)  # commands go on; the relay cannot publish them
                assert await eventually(lambda: relay_stall_row(engine) is not None, 4), "no stall recorded"
                ready = (await asyncio.to_thread(http.get, "/health/ready")).json()
                await outage.over()
                head = app.recorder.max_notification_id()
                assert await eventually(lambda: (tracked.max_tracking_id(app.name) or 0) >= head, 30), "the relay did not resume"
                assert relay_stall_row(engine) is None
                return ready
            finally:
                stop.set()
                await asyncio.wait_for(relay, 30)
                await client.close()
                if outage is not None:
                    outage.stop_server()

        ready = asyncio.run(scenario())
    assert ready["status"] == "degraded"
    assert ready["stalled_relay"]["name"] == "relay" and ready["stalled_relay"]["lag"] >= 10
    assert ready["stalled_relay"]["error"] in ("no acknowledgement within 1s", "TimeoutError", "OutboundBufferLimitError")
    # Many batches failed while NATS was away; one line said so, and one that it was over.
    assert len(messages(caplog, "workers.relay", logging.WARNING, "relay stalled")) == 1
    assert len(messages(caplog, "workers.relay", logging.DEBUG, "relay stalled")) >= 1
    assert len(messages(caplog, "workers.relay", logging.INFO, "relay resumed")) == 1
    assert len(messages(caplog, "workers.relay", logging.WARNING, "NATS connection relay-under-test")) == 1


def dashboard_figures(url: str, key: str) -> dict | None:
    async def read() -> dict | None:
        client = await nats.connect(url, allow_reconnect=False, connect_timeout=1)
        try:
            kv = await client.jetstream().key_value(BUCKET)
            return msgspec.json.decode((await kv.get(key)).value)
        except KeyNotFoundError:
            return None
        finally:
            await client.close()

    return asyncio.run(read())


def test_the_dashboard_publisher_goes_on_through_a_nats_outage_and_publishes_what_was_marked_meanwhile(
    app, actor, engine, tenant, projected, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="workers.publisher")
    data_dir = tmp_path / "nats"
    key = f"{tenant}.dashboard.metrics"
    with embedded_nats(data_dir) as server:
        admin = server.url_for("admin")

        def total_open(expected: int) -> bool:
            return (dashboard_figures(admin, key) or {}).get("total_open") == expected

        async def scenario() -> None:
            stop = asyncio.Event()
            publisher = asyncio.create_task(run_publisher(engine, server.url_for("projector"), stop, interval=0.2))
            outage = None
            try:
                await asyncio.to_thread(open_many, app, actor, 1)
                await asyncio.to_thread(projected)
                assert await eventually(lambda: total_open(1), 15)
                outage = Outage(data_dir, down_for=6)
                await asyncio.sleep(0.2)
                await asyncio.to_thread(open_many, app, actor, 2)
                await asyncio.to_thread(projected)
                await outage.over()
                assert not publisher.done(), "the publisher ended with NATS away"
                assert await eventually(lambda: total_open(3), 30), "what changed while NATS was away was never published"
            finally:
                stop.set()
                await asyncio.wait_for(publisher, 15)
                if outage is not None:
                    outage.stop_server()

        asyncio.run(scenario())
    # However many rounds failed, each stall is one line, and its end another.
    stalls = messages(caplog, "workers.publisher", logging.WARNING, "dashboard publisher stalled")
    assert 1 <= len(stalls) == len(messages(caplog, "workers.publisher", logging.INFO, "dashboard publisher resumed"))


def test_the_dashboard_publisher_goes_on_through_a_database_outage_and_publishes_what_was_marked_meanwhile(
    app, actor, database_url, tenant, projected, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="workers.publisher")
    key = f"{tenant}.dashboard.metrics"
    with embedded_nats(tmp_path / "nats") as server, Proxy(database_url) as proxy:
        behind = engine_for(proxy.url, pool_size=2, timeout=2)  # the publisher's database; the projections' is not cut
        admin = server.url_for("admin")

        def total_open(expected: int) -> bool:
            return (dashboard_figures(admin, key) or {}).get("total_open") == expected

        async def scenario() -> None:
            stop = asyncio.Event()
            publisher = asyncio.create_task(run_publisher(behind, server.url_for("projector"), stop, interval=0.2))
            try:
                await asyncio.to_thread(open_many, app, actor, 1)
                await asyncio.to_thread(projected)
                assert await eventually(lambda: total_open(1), 15)
                proxy.cut()
                await asyncio.to_thread(open_many, app, actor, 2)
                await asyncio.to_thread(projected)
                await asyncio.sleep(1)  # rounds that cannot take the marks
                assert not publisher.done(), "the publisher ended with the database away"
                proxy.resume()
                assert await eventually(lambda: total_open(3), 30), "what changed while the database was away was never published"
            finally:
                stop.set()
                await asyncio.wait_for(publisher, 15)
                behind.dispose()

        asyncio.run(scenario())
    assert messages(caplog, "workers.publisher", logging.WARNING, "dashboard publisher stalled") == [
        "dashboard publisher stalled (database: OperationalError); trying again every 0.2s"
    ]
    assert len(messages(caplog, "workers.publisher", logging.INFO, "dashboard publisher resumed")) == 1


def test_the_scheduler_leads_and_fires_from_the_read_model_when_nats_does_not_answer(
    app, actor, engine, database_url, projected, monkeypatch, caplog
):
    monkeypatch.setattr(relay_module, "CONNECT_TIMEOUT", 1.0)
    caplog.set_level(logging.INFO, logger="workers.scheduler")
    set_sla_policies(app, SetSLAPolicies(actor=actor("admin"), policies=[{"id": "standard", "response_hours": 4}]))
    opened = open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title="Leak", description="Small", category="water"))
    projected()
    breached = lambda: "response" in load_ticket(app.repository, opened.id).sla_breached  # noqa: E731
    started = time.monotonic()
    run_scheduler_until(app, engine, database_url, f"nats://127.0.0.1:{closed_port()}", timedelta(hours=5), breached)
    assert breached() and time.monotonic() - started < 10
    assert len(messages(caplog, "workers.scheduler", logging.WARNING, "test-scheduler cannot reach NATS")) == 1
