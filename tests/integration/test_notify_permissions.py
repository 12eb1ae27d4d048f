"""The notifiers' NATS users (workers/nats/authorization.conf) and the dead-letter stream: each
notifier makes DOCKET_NOTIFY_DLQ and publishes its own dead deliveries, and nothing else there."""

from __future__ import annotations

import asyncio

import pytest
from nats.errors import TimeoutError as NatsTimeout

from tests.integration.test_nats_permissions import DENIED_WAIT, connected, server  # noqa: F401 - the module's server fixture
from workers.notifier.dead_letters import STREAM, ensure_dead_letter_stream, subject_for


def test_each_notifier_publishes_dead_deliveries_on_its_own_subjects_only(server):  # noqa: F811 - the fixture
    async def scenario():
        async with connected(server, "admin") as admin:
            try:
                await admin.nc.jetstream().delete_stream(STREAM)
            except Exception:  # noqa: BLE001 - not there yet
                pass
        for user, sensitive in (("notifier", False), ("sensitive_notifier", True)):
            async with connected(server, user) as notifier:
                js = notifier.nc.jetstream(timeout=DENIED_WAIT)
                await ensure_dead_letter_stream(notifier.nc.jetstream())
                ack = await notifier.nc.jetstream().publish(subject_for("city", "sms", sensitive), b"{}", stream=STREAM)
                assert ack.stream == STREAM
                with pytest.raises(NatsTimeout):
                    await js.publish(subject_for("city", "sms", not sensitive), b"{}", stream=STREAM)
                assert await notifier.refused(f'Publish to "{subject_for("city", "sms", not sensitive)}"')
                with pytest.raises(NatsTimeout):
                    await js.publish("docket.city.tickets.Opened", b"{}")
                assert await notifier.refused('Publish to "docket.city.tickets.Opened"')
        async with connected(server, "admin") as admin:
            assert (await admin.nc.jetstream().stream_info(STREAM)).state.messages == 2

    asyncio.run(scenario())
