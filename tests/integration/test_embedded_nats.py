"""The nats-server `docket serve` embeds admits only Docket's users, each with the permissions of
workers/nats/authorization.conf: any local user can reach its loopback port."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator

import nats
import pytest
from nats.errors import NoServersError
from nats.js.errors import APIError

from workers.embedded import PASSWORDS, EmbeddedNats, embedded_nats
from workers.relay import STREAM, ensure_stream


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[EmbeddedNats]:
    with embedded_nats(tmp_path_factory.mktemp("embedded-nats")) as embedded:
        yield embedded


async def connect(url: str, errors: list[str] | None = None, inbox_prefix: str = "_INBOX") -> nats.NATS:
    async def on_error(error: Exception) -> None:
        if errors is not None:
            errors.append(str(error))

    return await nats.connect(url, inbox_prefix=inbox_prefix, allow_reconnect=False, connect_timeout=3, error_cb=on_error)


async def refused_by_server(errors: list[str], part: str, timeout: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if any(part.lower() in e.lower() for e in errors):
            return True
        await asyncio.sleep(0.02)
    return False


def test_the_embedded_server_refuses_a_connection_without_credentials(server):
    async def anonymous():
        with pytest.raises((nats.errors.Error, NoServersError), match="(?i)authorization"):
            await connect(server.url)

    asyncio.run(anonymous())


def test_the_embedded_server_refuses_a_wrong_password(server):
    async def guessing():
        with pytest.raises((nats.errors.Error, NoServersError), match="(?i)authorization"):
            await connect(server.url.replace("nats://", "nats://relay:guess@"))

    asyncio.run(guessing())


def test_the_notifiers_credentials_cannot_publish_an_event_and_nothing_reaches_the_stream(server):
    async def forging():
        admin = await connect(server.url_for("admin"))
        await ensure_stream(admin.jetstream())
        await admin.jetstream().purge_stream(STREAM)
        errors: list[str] = []
        notifier = await connect(server.url_for("notifier"), errors, inbox_prefix="_INBOX_notifier")
        await notifier.publish("docket.x.tickets.Opened", b'{"event": "Opened"}', headers={"Nats-Msg-Id": "999999"})
        await notifier.flush()
        refused = await refused_by_server(errors, "docket.x.tickets.Opened")
        await notifier.close()
        held = (await admin.jetstream().stream_info(STREAM)).state.messages
        await admin.close()
        return refused, held

    assert asyncio.run(forging()) == (True, 0)


def test_only_the_relay_publishes_events_and_only_admin_purges_the_stream(server):
    async def trying():
        relay = await connect(server.url_for("relay"))
        relay_js = relay.jetstream()
        await ensure_stream(relay_js)
        ack = await relay_js.publish("docket.x.tickets.Opened", b'{"event": "Opened"}')
        outcomes = {"relay publishes": ack.stream == STREAM}
        try:
            await relay_js.purge_stream(STREAM)
            outcomes["relay purges"] = True
        except (nats.errors.TimeoutError, APIError):
            outcomes["relay purges"] = False
        await relay.close()
        for user in ("projector", "scheduler", "dashboard"):
            errors: list[str] = []
            client = await connect(server.url_for(user), errors, inbox_prefix=f"_INBOX_{user}")
            await client.publish("docket.x.tickets.Opened", b"{}")
            await client.publish(f"$JS.API.STREAM.PURGE.{STREAM}", b"{}")
            await client.flush()
            outcomes[f"{user} refused"] = await refused_by_server(errors, "docket.x.tickets.Opened") and await refused_by_server(
                errors, f"$JS.API.STREAM.PURGE.{STREAM}"
            )
            await client.close()
        admin = await connect(server.url_for("admin"))
        outcomes["admin purges"] = (await admin.jetstream().purge_stream(STREAM)) is True
        await admin.close()
        return outcomes

    assert asyncio.run(trying()) == {
        "relay publishes": True,
        "relay purges": False,
        "projector refused": True,
        "scheduler refused": True,
        "dashboard refused": True,
        "admin purges": True,
    }


def test_only_the_projector_writes_to_a_key_value_bucket(server):
    async def writing():
        projector = await connect(server.url_for("projector"), inbox_prefix="_INBOX_projector")
        kv = await projector.jetstream().create_key_value(bucket="EMBEDDED_TEST", history=1)
        await kv.put("city.dashboard.metrics", b"{}")
        await projector.close()
        errors: list[str] = []
        relay = await connect(server.url_for("relay"), errors)
        await relay.publish("$KV.EMBEDDED_TEST.city.dashboard.metrics", b'{"forged": true}')
        await relay.flush()
        refused = await refused_by_server(errors, "$KV.EMBEDDED_TEST")
        await relay.close()
        return refused

    assert asyncio.run(writing())


def test_the_passwords_are_made_once_and_readable_by_their_owner_only(tmp_path):
    with embedded_nats(tmp_path) as first:
        pass
    mode = stat.S_IMODE((tmp_path / PASSWORDS).stat().st_mode)
    with embedded_nats(tmp_path) as second:
        pass
    assert mode == 0o600
    assert first.passwords == second.passwords
    assert set(first.passwords) == {"relay", "projector", "notifier", "sensitive_notifier", "dashboard", "scheduler", "admin"}
