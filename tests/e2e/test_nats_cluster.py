"""A three-node NATS cluster that loses a node, and then the stream's leader, under load: the relay,
the dashboard publisher and the SLA scheduler go on, and every event is on the stream exactly once.

The roles run as compose.yaml runs them, each its own process with its own NATS user, against every
node of the cluster (DOCKET_NATS_URL lists them) and with DOCKET_STREAM_REPLICAS=3. The first node
killed comes back before the leader is killed: a stream of three replicas needs two nodes to go on.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import msgspec
import pytest
from eventsourcing.persistence import Tracking

from api.auth import issue_token
from commands.app import TICKET_TOPICS
from commands.sla import set_sla_policies
from commands.structs import SetSLAPolicies
from domain.permissions import Actor, Role
from projections.operations import RELAY, events_after, head_of, tracking_recorder
from tests.conftest import JWT_SECRET
from tests.e2e.processes import Service, roles_env
from tests.e2e.test_kill_under_load import Load
from tests.e2e.test_serve import eventually
from tests.nats_cluster import NatsCluster, nats_cluster
from workers.embedded import free_port
from workers.publisher import BUCKET
from workers.relay import STREAM, connect_nats

pytestmark = pytest.mark.e2e

REPLICAS = 3
SLA_SECONDS = 3
CLOCK_TICKETS = 3


def test_a_nats_cluster_losing_a_node_and_then_the_streams_leader_loses_and_repeats_nothing(app, database_url, tmp_path, tenant):
    skip_earlier_events(app)
    clock_tenant = tenant + "c"  # whose tickets breach their SLA seconds after opening
    set_sla_policies(
        app,
        SetSLAPolicies(
            actor=Actor(id="admin-1", tenant=clock_tenant, role=Role.ADMIN), policies=[{"id": "fast", "response_hours": SLA_SECONDS / 3600}]
        ),
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with nats_cluster(tmp_path / "nats") as cluster:
        env = roles_env(tmp_path, database_url, port, DOCKET_STREAM_REPLICAS=str(REPLICAS), DOCKET_API_WORKERS="1")
        users = {"api": None, "projector": "projector", "relay": "relay", "scheduler": "scheduler"}
        services = {
            role: Service([role], {**env, "DOCKET_NATS_URL": cluster.url_for(user)}, tmp_path / f"{role}.log")
            for role, user in users.items()
        }
        try:
            services["api"].wait_healthy(base)
            services["relay"].wait_for_log("relay publishing to DOCKET_EVENTS")
            services["projector"].wait_for_log("publishing dashboard figures")
            services["scheduler"].wait_for_log("is the active SLA scheduler")
            assert cluster.stream_info(STREAM).config.num_replicas == REPLICAS, "the relay did not apply DOCKET_STREAM_REPLICAS"
            assert cluster.stream_info(f"KV_{BUCKET}").config.num_replicas == REPLICAS, "the publisher did not apply it to its bucket"

            with Load(base, tenant) as load:
                time.sleep(2)
                info = cluster.stream_info(STREAM)
                follower = next(peer.name for peer in info.cluster.replicas if peer.name != info.cluster.leader)
                kill_and_bring_back(cluster, follower)
                leader = cluster.stream_info(STREAM).cluster.leader
                cluster.kill(cluster.node(leader))
                assert eventually(lambda: new_leader(cluster, leader), timeout=20), "the stream elected no new leader"
                opened = open_clock_tickets(base, clock_tenant)  # after both kills
                time.sleep(2)
                ready = httpx.get(f"{base}/health/ready", timeout=3)
            acknowledged = dict(load.acknowledged)
            assert len(acknowledged) > 20
            assert ready.status_code == 200 and ready.json()["nats"] == "ok", ready.text

            relayed = tracking_recorder(app.recorder.datastore, RELAY)
            caught_up = lambda: (relayed.max_tracking_id(app.name) or 0) >= head_of(app, TICKET_TOPICS)  # noqa: E731
            breached = lambda: dashboard_breaches(cluster, clock_tenant) == CLOCK_TICKETS  # noqa: E731
            assert eventually(breached, timeout=30), "the scheduler or the dashboard publisher stopped"
            assert eventually(caught_up, timeout=30), f"the relay did not catch up:\n{services['relay'].text()[-3000:]}"

            for one in (tenant, clock_tenant):
                stored = [t.notification_id for e, t in events_after(app, 0, TICKET_TOPICS, limit=1_000_000) if e.tenant == one]
                published = asyncio.run(stream_messages(cluster, f"docket.{one}.tickets.>"))
                assert sorted(int(m["Nats-Msg-Id"]) for m, _ in published) == stored
            versions = {}
            for _, body in asyncio.run(stream_messages(cluster, f"docket.{tenant}.tickets.>")):
                versions[body["ticket_id"]] = max(versions.get(body["ticket_id"], 0), body["version"])
            assert all(versions.get(ticket_id, 0) >= version for ticket_id, version in acknowledged.items())
            breaches = [body for _, body in asyncio.run(stream_messages(cluster, f"docket.{clock_tenant}.tickets.SLABreached"))]
            assert sorted(body["ticket_id"] for body in breaches) == sorted(opened)
        finally:
            for service in services.values():
                service.terminate()


def skip_earlier_events(app) -> None:
    """The session's earlier tests left events no relay published: not this test's, and the new
    cluster need not carry them. The relay starts after them."""
    relayed = tracking_recorder(app.recorder.datastore, RELAY)
    head = app.recorder.max_notification_id() or 0
    if head > (relayed.max_tracking_id(app.name) or 0):
        relayed.insert_tracking(Tracking(app.name, head))


def kill_and_bring_back(cluster: NatsCluster, name: str) -> None:
    """SIGKILL a node, leave it down a while under load, start it on its store, wait until it is current."""
    node = cluster.node(name)
    cluster.kill(node)
    time.sleep(3)
    cluster.start(node)

    def current() -> bool:
        try:
            replicas = cluster.stream_info(STREAM).cluster.replicas or []
        except Exception:  # noqa: BLE001 - the cluster is still settling
            return False
        return any(peer.name == name and peer.current for peer in replicas)

    assert eventually(current, timeout=30), f"node {name} did not catch up with the stream"


def new_leader(cluster: NatsCluster, old: str) -> bool:
    try:
        leader = cluster.stream_info(STREAM).cluster.leader
    except Exception:  # noqa: BLE001 - no leader yet
        return False
    return leader is not None and leader != old


def open_clock_tickets(base: str, tenant: str) -> list[str]:
    reporter = {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=tenant, role="reporter", sub="c1")}
    opened = []
    with httpx.Client(base_url=base, timeout=10) as http:
        for n in range(CLOCK_TICKETS):
            answer = http.post("/api/v1/tickets", json={"title": f"Gas {n}", "description": "d", "category": "gas"}, headers=reporter)
            assert answer.status_code == 201, answer.text
            opened.append(answer.json()["id"])
    return opened


def dashboard_breaches(cluster: NatsCluster, tenant: str) -> int | None:
    async def read() -> int | None:
        client = await connect_nats(cluster.url_for("admin"), "test-dashboard-reader")
        try:
            kv = await client.jetstream(timeout=2).key_value(BUCKET)
            return msgspec.json.decode((await kv.get(f"{tenant}.dashboard.metrics")).value)["sla_breaches"]
        except Exception:  # noqa: BLE001 - not published yet
            return None
        finally:
            await client.close()

    return asyncio.run(read())


async def stream_messages(cluster: NatsCluster, subject: str) -> list[tuple[dict, dict]]:
    """Every message of DOCKET_EVENTS on the subject: its headers and its body."""
    client = await connect_nats(cluster.url_for("admin"), "test-stream-reader")
    try:
        js = client.jetstream(timeout=5)
        pending = (await js.stream_info(STREAM, subjects_filter=subject)).state.subjects or {}
        expected = sum(pending.values())
        sub = await js.subscribe(subject, ordered_consumer=True)
        found = []
        while len(found) < expected:
            msg = await sub.next_msg(timeout=5)
            found.append((dict(msg.headers or {}), msgspec.json.decode(msg.data)))
        return found
    finally:
        await client.close()
