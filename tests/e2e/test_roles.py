"""Each process role on its own against shared servers, as compose.yaml runs them."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from commands.structs import OpenTicket
from commands.tickets import open_ticket
from tests.conftest import CIPHER_KEY, JWT_SECRET
from tests.e2e.processes import Service, docket_env, roles_env
from tests.e2e.test_serve import eventually
from tests.nats_helpers import read_subject
from workers.embedded import free_port

pytestmark = pytest.mark.e2e


def test_a_relay_killed_at_random_moments_neither_loses_nor_repeats_a_message(
    app, actor, tenant, database_url, nats_server, nats_url, tmp_path
):
    relay_url = nats_server.url_for("relay")
    env = docket_env(tmp_path, DOCKET_DATABASE_URL=database_url, DOCKET_NATS_URL=relay_url, DOCKET_CIPHER_KEY=CIPHER_KEY)
    opened = 0
    rng = random.Random(7)
    for round_ in range(4):
        relay = Service(["relay"], env, tmp_path / f"relay-{round_}.log")
        for _ in range(60):
            open_ticket(app, OpenTicket(actor=actor("reporter", "c1"), title="Noise", description="Loud", category="noise"))
            opened += 1
        time.sleep(rng.uniform(0.0, 1.5))
        relay.kill()
    relay = Service(["relay"], env, tmp_path / "relay-last.log")
    relay.wait_for_log("relay publishing")
    try:
        messages = asyncio.run(read_subject(nats_url, f"docket.{tenant}.tickets.>", expected=opened, timeout=60))
    finally:
        assert relay.terminate() == 0
    ids = [int(m[1]["Nats-Msg-Id"]) for m in messages]
    assert len(ids) == opened == len(set(ids))
    assert ids == sorted(ids)


def test_api_projector_and_relay_run_as_separate_processes(database_url, nats_server, nats_url, tmp_path, tenant):
    from api.auth import issue_token

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = roles_env(tmp_path, database_url, port)
    # As compose.yaml runs them: each role with its own NATS user in its URL, the API with none.
    roles = [
        Service([role], env if role == "api" else {**env, "DOCKET_NATS_URL": nats_server.url_for(role)}, tmp_path / f"{role}.log")
        for role in ("api", "projector", "relay")
    ]
    try:
        roles[0].wait_healthy(base)
        roles[1].wait_for_log("projecting tickets")
        roles[2].wait_for_log("relay publishing")
        headers = {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=tenant, role="agent", sub="a1")}
        ticket = httpx.post(
            f"{base}/api/v1/tickets", json={"title": "Outage", "description": "No power", "category": "power"}, headers=headers
        )
        assert ticket.status_code == 201, ticket.text
        assert eventually(lambda: httpx.get(f"{base}/api/v1/tickets/{ticket.json()['id']}", headers=headers).status_code == 200)
        messages = asyncio.run(read_subject(nats_url, f"docket.{tenant}.tickets.>", expected=1))
        assert [m[2]["ticket_id"] for m in messages] == [ticket.json()["id"]]
    finally:
        assert [role.terminate() for role in roles] == [0, 0, 0]
