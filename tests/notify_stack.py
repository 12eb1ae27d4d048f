"""Runs the relay and notifiers in a thread of the test process, against the session's servers
and the provider servers of tests/notify_servers.py; and reads the delivery record."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import nats
from sqlalchemy import text
from sqlalchemy.engine import Engine

from commands.app import Docket
from tests.notify_servers import (
    MAIL_FROM,
    PHONE_NUMBER_ID,
    SMS_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    WHATSAPP_TOKEN,
    MailServer,
    Providers,
)
from workers.notifier.role import ORDINARY, Kind, Notifier
from workers.relay import Relay
from workers.settings import NotifySettings


def notify_settings(providers: Providers, mail: MailServer | None, ca: Path | None, **overrides: Any) -> NotifySettings:
    """Every channel on, pointed at the test's servers; quick retries; rates no test reaches."""
    settings = NotifySettings(
        whatsapp_url=f"{providers.base_url}/v21.0",
        whatsapp_token=WHATSAPP_TOKEN,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        sms_url=providers.base_url,
        sms_account_sid=TWILIO_SID,
        sms_auth_token=TWILIO_TOKEN,
        sms_from=SMS_FROM,
        smtp_url=mail.url if mail else None,
        smtp_from=MAIL_FROM if mail else None,
        smtp_ca_file=ca,
        max_attempts=4,
        backoff_seconds=0.05,
        backoff_max_seconds=0.2,
        timeout=3.0,
        rate_whatsapp=1000.0,
        rate_sms=1000.0,
        rate_email=1000.0,
        rate_webhook=1000.0,
        link="https://city.example/tickets/{tracking_number}",
        webhook_allow_private=True,
    )
    return msgspec.structs.replace(settings, **overrides)


class FromNowRelay(Relay):
    """The relay, publishing only what is stored from its start on, under a tracking name of its
    own: for a NATS server a test starts for itself, which must not get the session's history."""

    name = "relay_notify_tests"

    async def start_position(self) -> int:
        if not hasattr(self, "_from"):
            self._from = await asyncio.to_thread(self.app.recorder.max_notification_id) or 0
        return max(self._from, await asyncio.to_thread(self.tracking.max_tracking_id, self.app.name) or 0)


class Stack:
    """The relay (as its NATS user) and notifiers, in one event loop on a thread of their own."""

    def __init__(self, app: Docket, database_url: str, relay_url: str | None, relay_class: type[Relay] = Relay) -> None:
        self.app, self.database_url, self.relay_url, self.relay_class = app, database_url, relay_url, relay_class
        self.notifiers: list[Notifier] = []
        self.loop = asyncio.new_event_loop()
        self.stop: asyncio.Event | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, name="notify-stack", daemon=True)
        self.error: BaseException | None = None

    def add(self, nats_url: str, settings: NotifySettings, kind: Kind = ORDINARY, **narrowed: str) -> Notifier:
        notifier = Notifier(self.app, self.database_url, nats_url, settings, kind, **narrowed)
        self.notifiers.append(notifier)
        return notifier

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as error:  # noqa: BLE001 - reported by __exit__
            self.error = error
            self.started.set()

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        tasks = []
        client = None
        if self.relay_url is not None:
            client = await nats.connect(self.relay_url)
            tasks.append(asyncio.create_task(self.relay_class(self.app, self.database_url, client.jetstream()).run(self.stop)))
        ready = [asyncio.Event() for _ in self.notifiers]
        tasks += [asyncio.create_task(n.run(self.stop, r.set)) for n, r in zip(self.notifiers, ready, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
        self.started.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            if client is not None:
                await client.close()

    def __enter__(self) -> Stack:
        self.thread.start()
        self.started.wait(60)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *_: object) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)
        if self.error is not None and not isinstance(self.error, asyncio.CancelledError):
            raise self.error


def deliveries(engine: Engine, tenant: str) -> list[dict[str, Any]]:
    query = text("SELECT * FROM notification_deliveries WHERE tenant = :tenant ORDER BY created_at, notification_id, channel")
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query, {"tenant": tenant}).mappings()]


def settle(engine: Engine, tenant: str) -> None:
    """Leaves nothing of the tenant for a later test's notifier to send: what is still due is set dead."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE notification_deliveries SET status = 'dead', dlq_published = true WHERE tenant = :t AND status IN ('pending', 'failed')"
            ),
            {"t": tenant},
        )


@contextmanager
def settled(engine: Engine, tenant: str) -> Iterator[None]:
    try:
        yield
    finally:
        settle(engine, tenant)
