"""The production NATS users (workers/nats/authorization.conf) on a real nats-server: each role
can do its job, the ordinary notifier can reach no sensitive ticket's event, and no reading role
can reach an internal note."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from workers.embedded import free_port, nats_server_binary
from workers.relay import STREAM, STREAM_SUBJECTS, ensure_stream, last_published_id

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "single-node.conf"
USERS = ("relay", "projector", "notifier", "sensitive_notifier", "dashboard", "scheduler", "admin")
# JetStream's "did not match filtered subject" and "multiple subject filters cannot use subject based API"
FILTER_MISMATCH = {10131, 10137}
DENIED_WAIT = 0.3  # how long a request refused by the server waits for the answer that never comes


@dataclass
class NatsServer:
    port: int
    passwords: dict[str, str]


@dataclass
class Client:
    nc: nats.NATS
    violations: list[str]  # the server's permission errors, which nats-py reports in lower case

    async def refused(self, subject_part: str) -> bool:
        """Whether the server reported a permissions violation naming this subject."""
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if any(subject_part.lower() in v.lower() for v in self.violations):
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[NatsServer]:
    """nats-server with the production users on a free loopback port, its store in a temp dir."""
    store = tmp_path_factory.mktemp("nats-permissions")
    passwords = {user: "n" + secrets.token_hex(12) for user in USERS}
    env = {**os.environ, **{f"NATS_{user.upper()}_PASSWORD": pw for user, pw in passwords.items()}}
    port = free_port()
    command = [nats_server_binary(), "-c", str(CONFIG), "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    with open(store / "nats-server.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield NatsServer(port, passwords)
    finally:
        process.terminate()
        process.wait(10)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"nats-server exited with code {process.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nats-server did not listen on {port}")


@asynccontextmanager
async def connected(server: NatsServer, user: str):
    """A connection as `user`, with its own inbox prefix as the roles use (the relay keeps _INBOX)."""
    violations: list[str] = []

    async def on_error(error: Exception) -> None:
        violations.append(str(error))

    nc = await nats.connect(
        f"nats://{user}:{server.passwords[user]}@127.0.0.1:{server.port}",
        inbox_prefix="_INBOX" if user == "relay" else f"_INBOX_{user}",
        error_cb=on_error,
        allow_reconnect=False,
    )
    try:
        yield Client(nc, violations)
    finally:
        await nc.close()


async def delete_events_stream(server: NatsServer) -> None:
    """Each test starts without DOCKET_EVENTS and so without any role's consumer of it."""
    async with connected(server, "admin") as admin:
        try:
            await admin.nc.jetstream().delete_stream(STREAM)
        except NotFoundError:
            pass


async def publish_events(server: NatsServer, tenant: str) -> None:
    """As the relay does: a new DOCKET_EVENTS, then two ordinary events, a sensitive one and an
    internal note."""
    await delete_events_stream(server)
    async with connected(server, "relay") as relay:
        js = relay.nc.jetstream()
        await ensure_stream(js)
        for n, kind_and_event in enumerate(("tickets.Opened", "sensitive.Opened", "tickets.StatusChanged", "internal.ReplyAdded"), 1):
            await js.publish(f"docket.{tenant}.{kind_and_event}", b'{"event": "x"}', headers={"Nats-Msg-Id": str(n)})


@pytest.fixture
def tenant(server) -> str:
    """A tenant whose events the relay has just published to a new DOCKET_EVENTS."""
    name = f"t{uuid.uuid4().hex[:8]}"
    asyncio.run(publish_events(server, name))
    return name


async def fetch_subjects(client: Client, filter_subject: str, durable: str, expected: int) -> list[str]:
    sub = await client.nc.jetstream().pull_subscribe(filter_subject, durable=durable, stream=STREAM)
    messages = await sub.fetch(expected, timeout=2)
    for message in messages:
        await message.ack()
    return [m.subject for m in messages]


def test_the_relay_creates_the_stream_and_publishes_every_kind_of_event(server, tenant):
    async def scenario():
        async with connected(server, "relay") as relay:
            js = relay.nc.jetstream()
            info = await js.stream_info(STREAM)
            assert sorted(info.config.subjects) == sorted(STREAM_SUBJECTS)
            assert info.state.messages == 4
            assert await last_published_id(js) == 4
            assert relay.violations == []

    asyncio.run(scenario())


def test_the_relay_widens_a_stream_made_before_sensitive_subjects_existed(server):
    async def scenario():
        await delete_events_stream(server)
        async with connected(server, "admin") as admin:
            await admin.nc.jetstream().add_stream(name=STREAM, subjects=["docket.*.tickets.>"])
        async with connected(server, "relay") as relay:
            await ensure_stream(relay.nc.jetstream())
            info = await relay.nc.jetstream().stream_info(STREAM)
        assert sorted(info.config.subjects) == sorted(STREAM_SUBJECTS)

    asyncio.run(scenario())


def test_the_relay_may_not_subscribe_to_events_or_make_other_streams(server, tenant):
    async def scenario():
        async with connected(server, "relay") as relay:
            js = relay.nc.jetstream(timeout=DENIED_WAIT)
            with pytest.raises(NatsTimeout):
                await js.add_stream(name="OTHER", subjects=["other.>"])
            assert await relay.refused("$JS.API.STREAM.CREATE.OTHER")
            await relay.nc.subscribe(f"docket.{tenant}.tickets.>")
            assert await relay.refused(f'Subscription to "docket.{tenant}.tickets.>"')

    asyncio.run(scenario())


def test_the_notifier_consumes_ordinary_events_of_every_tenant(server, tenant):
    async def scenario():
        async with connected(server, "notifier") as notifier:
            subjects = await fetch_subjects(notifier, "docket.*.tickets.>", "notifier", 4)
            assert subjects == [f"docket.{tenant}.tickets.Opened", f"docket.{tenant}.tickets.StatusChanged"]
            assert notifier.violations == []

    asyncio.run(scenario())


def test_the_notifier_may_not_subscribe_to_sensitive_or_internal_subjects(server, tenant):
    async def scenario():
        async with connected(server, "notifier") as notifier:
            subs = [await notifier.nc.subscribe(f"docket.{tenant}.{kind}.>") for kind in ("sensitive", "internal")]
            assert await notifier.refused(f'Subscription to "docket.{tenant}.sensitive.>"')
            assert await notifier.refused(f'Subscription to "docket.{tenant}.internal.>"')
            async with connected(server, "relay") as relay:
                await relay.nc.publish(f"docket.{tenant}.sensitive.Opened", b"secret")
                await relay.nc.publish(f"docket.{tenant}.internal.ReplyAdded", b"staff only")
                await relay.nc.flush()
            for sub in subs:
                with pytest.raises(NatsTimeout):
                    await sub.next_msg(timeout=DENIED_WAIT)

    asyncio.run(scenario())


def test_the_notifier_may_not_make_a_consumer_of_sensitive_events(server, tenant):
    async def scenario():
        async with connected(server, "notifier") as notifier:
            js = notifier.nc.jetstream(timeout=DENIED_WAIT)
            with pytest.raises(NatsTimeout):
                await js.pull_subscribe(f"docket.{tenant}.sensitive.>", durable="notifier", stream=STREAM)
            assert await notifier.refused(f"CONSUMER.CREATE.{STREAM}.notifier.docket.{tenant}.sensitive.>")
            with pytest.raises(NatsTimeout):  # an ephemeral consumer names no filter in its subject
                await js.subscribe(f"docket.{tenant}.sensitive.>", stream=STREAM, ordered_consumer=True)
            assert await notifier.refused(f'Publish to "$JS.API.CONSUMER.CREATE.{STREAM}"')

    asyncio.run(scenario())


def test_the_notifier_may_not_pass_off_a_sensitive_filter_under_an_ordinary_one(server, tenant):
    async def scenario():
        async with connected(server, "notifier") as notifier:
            jsm = notifier.nc.jetstream()
            ordinary = f"docket.{tenant}.tickets.>"
            sensitive = f"docket.{tenant}.sensitive.>"
            for config in (
                ConsumerConfig(name="notifier", filter_subject=sensitive),
                ConsumerConfig(name="notifier", filter_subjects=[sensitive]),
                ConsumerConfig(name="notifier", filter_subjects=[ordinary, sensitive]),
            ):
                request = {"stream_name": STREAM, "config": config.as_dict()}
                answer = await notifier.nc.request(
                    f"$JS.API.CONSUMER.CREATE.{STREAM}.notifier.{ordinary}", json.dumps(request).encode(), timeout=2
                )
                # The server checks the filter in the body against the one in the subject.
                assert json.loads(answer.data)["error"]["err_code"] in FILTER_MISMATCH, answer.data
            with pytest.raises(NotFoundError):
                await jsm.consumer_info(STREAM, "notifier")

    asyncio.run(scenario())


def test_the_notifier_may_not_read_another_roles_consumer_or_the_stream_directly(server, tenant):
    async def scenario():
        async with connected(server, "sensitive_notifier") as cleared:
            await cleared.nc.jetstream().pull_subscribe(f"docket.{tenant}.sensitive.>", durable="sensitive_notifier", stream=STREAM)
        async with connected(server, "notifier") as notifier:
            js = notifier.nc.jetstream(timeout=DENIED_WAIT)
            sub = await js.pull_subscribe_bind(durable="sensitive_notifier", stream=STREAM)
            with pytest.raises(NatsTimeout):
                await sub.fetch(1, timeout=DENIED_WAIT)
            assert await notifier.refused(f"CONSUMER.MSG.NEXT.{STREAM}.sensitive_notifier")
            with pytest.raises(NatsTimeout):
                await js.get_msg(STREAM, seq=2)
            assert await notifier.refused(f"STREAM.MSG.GET.{STREAM}")
            with pytest.raises(NatsTimeout):
                await js.get_msg(STREAM, seq=2, direct=True)
            assert await notifier.refused(f"DIRECT.GET.{STREAM}")

    asyncio.run(scenario())


def test_no_reading_role_may_consume_internal_notes(server, tenant):
    async def scenario():
        for user in ("notifier", "sensitive_notifier", "scheduler"):
            async with connected(server, user) as reader:
                js = reader.nc.jetstream(timeout=DENIED_WAIT)
                with pytest.raises(NatsTimeout):
                    await js.pull_subscribe(f"docket.{tenant}.internal.>", durable=user, stream=STREAM)
                assert await reader.refused(f"CONSUMER.CREATE.{STREAM}.{user}.docket.{tenant}.internal.>"), user
                await reader.nc.subscribe(f"docket.{tenant}.internal.>")
                assert await reader.refused(f'Subscription to "docket.{tenant}.internal.>"'), user

    asyncio.run(scenario())


def test_the_sensitive_notifier_consumes_sensitive_events(server, tenant):
    async def scenario():
        async with connected(server, "sensitive_notifier") as cleared:
            subjects = await fetch_subjects(cleared, "docket.*.sensitive.>", "sensitive_notifier", 4)
            assert subjects == [f"docket.{tenant}.sensitive.Opened"]
            sub = await cleared.nc.subscribe(f"docket.{tenant}.sensitive.>")
            await cleared.nc.flush()
            assert cleared.violations == []
            await sub.unsubscribe()

    asyncio.run(scenario())


def test_the_scheduler_consumes_ordinary_and_sensitive_events(server, tenant):
    async def scenario():
        async with connected(server, "scheduler") as scheduler:
            ordinary = await fetch_subjects(scheduler, "docket.*.tickets.>", "scheduler", 4)
            sensitive = await fetch_subjects(scheduler, "docket.*.sensitive.>", "scheduler_sensitive", 4)
            assert len(ordinary) == 2 and sensitive == [f"docket.{tenant}.sensitive.Opened"]
            assert scheduler.violations == []

    asyncio.run(scenario())


def test_the_dashboard_watches_the_projectors_bucket_and_changes_nothing(server, tenant):
    async def scenario():
        async with connected(server, "projector") as projector:
            kv = await projector.nc.jetstream().create_key_value(bucket=f"dashboard_{tenant}")
            await kv.put("open_tickets", b"2")
        async with connected(server, "dashboard") as dashboard:
            kv = await dashboard.nc.jetstream().key_value(f"dashboard_{tenant}")
            assert (await kv.get("open_tickets")).value == b"2"
            watcher = await kv.watchall()
            assert (await watcher.updates(timeout=2)).value == b"2"
            await watcher.stop()
            refusing = await dashboard.nc.jetstream(timeout=DENIED_WAIT).key_value(f"dashboard_{tenant}")
            with pytest.raises(NatsTimeout):
                await refusing.put("open_tickets", b"0")
            assert await dashboard.refused(f"$KV.dashboard_{tenant}.open_tickets")
            with pytest.raises(NatsTimeout):
                await dashboard.nc.jetstream(timeout=DENIED_WAIT).subscribe(f"docket.{tenant}.>", stream=STREAM, ordered_consumer=True)
            assert await dashboard.refused(f"CONSUMER.CREATE.{STREAM}")

    asyncio.run(scenario())
