"""SIGKILL of the API, the projector and the relay, each more than once, while clients open tickets
and move them over HTTP: nothing acknowledged is lost, the read model equals a rebuild, and every
event reaches JetStream exactly once."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from api.auth import issue_token
from commands.app import TICKET_TOPICS
from projections.operations import events_after, rebuild
from projections.ticket_tables import LIVE
from tests.conftest import JWT_SECRET
from tests.e2e.processes import Service, roles_env
from tests.e2e.test_serve import eventually
from tests.integration.test_tickets_projection import read_all
from tests.nats_helpers import read_subject
from workers.embedded import free_port

pytestmark = pytest.mark.e2e

NEXT_STATUS = {"open": "in_progress", "in_progress": "escalated", "escalated": "in_progress"}
CLIENTS = 6


class Load:
    """Clients opening and moving tickets until stopped; what was acknowledged, with its version."""

    def __init__(self, base: str, tenant: str) -> None:
        self.base = base
        self.reporter = {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=tenant, role="reporter", sub="r1")}
        self.manager = {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=tenant, role="manager", sub="m1")}
        self.acknowledged: dict[str, int] = {}  # ticket id -> the highest version a 2xx answered
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def client(self, n: int) -> None:
        rng = random.Random(n)
        mine: dict[str, str] = {}
        with httpx.Client(base_url=self.base, timeout=10) as http:
            while not self.stop.is_set():
                try:
                    if mine and rng.random() < 0.5:
                        ticket_id = rng.choice(list(mine))
                        status = NEXT_STATUS[mine[ticket_id]]
                        answer = http.patch(f"/api/v1/tickets/{ticket_id}/status", json={"status": status}, headers=self.manager)
                        if answer.status_code == 200:
                            mine[ticket_id] = status
                    else:
                        answer = http.post(
                            "/api/v1/tickets", json={"title": "Leak", "description": "d", "category": "water"}, headers=self.reporter
                        )
                        if answer.status_code == 201:
                            mine[answer.json()["id"]] = "open"
                except httpx.HTTPError:  # the API was killed under this request: not acknowledged
                    time.sleep(0.05)
                    continue
                if answer.status_code in (200, 201):
                    body = answer.json()
                    with self.lock:
                        self.acknowledged[body["id"]] = max(self.acknowledged.get(body["id"], 0), body.get("version", 1))


def test_killing_api_projector_and_relay_under_load_loses_and_duplicates_nothing(
    app, engine, database_url, nats_server, nats_url, tmp_path, tenant
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = roles_env(tmp_path, database_url, port, DOCKET_API_WORKERS="2")
    starts = iter(range(1000))

    def start(role: str) -> Service:
        role_env = env if role == "api" else {**env, "DOCKET_NATS_URL": nats_server.url_for(role)}
        service = Service([role], role_env, tmp_path / f"{role}-{next(starts)}.log")
        if role == "api":
            service.wait_healthy(base)
        return service

    def start_api() -> Service:
        """A killed API's second process lets go of the port within a second or two of noticing."""
        for _ in range(20):
            try:
                return start("api")
            except AssertionError:
                time.sleep(0.5)
        raise AssertionError("the API did not start again after being killed")

    services = {"api": start_api(), "projector": start("projector"), "relay": start("relay")}
    rng = random.Random(17)
    try:
        with Load(base, tenant) as load:
            for _ in range(2):
                for role in ("api", "projector", "relay"):
                    time.sleep(rng.uniform(0.5, 1.5))
                    services[role].kill()
                    services[role] = start_api() if role == "api" else start(role)
            time.sleep(1)
        acknowledged = dict(load.acknowledged)
        assert len(acknowledged) > 20

        def projected() -> bool:
            with engine.connect() as conn:
                rows = conn.execute(select(LIVE.tickets.c.id, LIVE.tickets.c.version).where(LIVE.tickets.c.tenant == tenant)).all()
            versions = {str(ticket_id): version for ticket_id, version in rows}
            return all(versions.get(ticket_id, 0) >= version for ticket_id, version in acknowledged.items())

        assert eventually(projected, timeout=60), "an acknowledged change never reached the read model"
        before = read_all(engine)
        rebuild(app, "tickets")
        assert read_all(engine) == before

        stored = [t.notification_id for e, t in events_after(app, 0, TICKET_TOPICS, limit=1_000_000) if e.tenant == tenant]
        messages = asyncio.run(read_subject(nats_url, f"docket.{tenant}.tickets.>", expected=len(stored), timeout=60))
        relayed = sorted(int(m[1]["Nats-Msg-Id"]) for m in messages)
        assert relayed == stored, f"relayed {len(relayed)} of {len(stored)}; the last relay's log:\n{services['relay'].text()[-3000:]}"
    finally:
        for service in services.values():
            service.terminate()
