"""A notifier that starts before the relay has made the stream (every first start of `docket
serve`) waits for it without a stall warning, and consumes as soon as the relay makes it."""

from __future__ import annotations

import asyncio
import logging

import nats

from workers.embedded import embedded_nats
from workers.notifier.consumer import Consumer
from workers.notifier.role import ORDINARY
from workers.relay import ensure_stream
from workers.settings import NotifySettings


def test_a_notifier_waits_for_the_stream_the_relay_makes_without_a_warning(app, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="workers.notifier.consumer")

    async def scenario() -> bool:
        with embedded_nats(tmp_path / "nats") as server:
            notifier = await nats.connect(server.url_for("notifier"), inbox_prefix="_INBOX_notifier")
            relay = await nats.connect(server.url_for("relay"))  # the relay keeps _INBOX
            consumer = Consumer(app, notifier.jetstream(), None, None, ORDINARY.subject, ORDINARY.durable, NotifySettings(), "notifier")
            stop = asyncio.Event()
            try:
                subscribing = asyncio.create_task(consumer.subscribe(stop))
                await asyncio.sleep(2.5)  # a few attempts, a second apart
                waited = not subscribing.done()
                await ensure_stream(relay.jetstream())
                assert await asyncio.wait_for(subscribing, 10) is not None
                return waited
            finally:
                stop.set()
                consumer.loading.shutdown()
                await notifier.close()
                await relay.close()

    assert asyncio.run(scenario())
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "workers.notifier.consumer"]
    assert (logging.INFO, "notifier waits for stream DOCKET_EVENTS, which the relay makes") in logged
    assert [message for level, message in logged if level >= logging.WARNING] == []
    assert logged[-1] == (logging.INFO, f"notifier consumes {ORDINARY.subject} through durable consumer {ORDINARY.durable}")
