"""`docket notifier` and `docket notifier --sensitive`: the consumer and the sender in one process.

The ordinary notifier reads docket.*.tickets.> as the NATS user `notifier`, through the durable
consumer `notifier`; the sensitive one reads docket.*.sensitive.> as `sensitive_notifier`, through
its own (workers/nats/authorization.conf: neither can read the other's subjects, nor internal
notes). Run as many of either as the load needs: they share their durable consumer and the
delivery record, and none sends what another sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from psycopg_pool import AsyncConnectionPool

from commands.app import Docket
from commands.deliveries import create_delivery_tables
from workers.bootstrap import Endpoints
from workers.notifier.channels import SMS, Channel, ProviderClients, WhatsApp
from workers.notifier.consumer import Consumer
from workers.notifier.mail import Email
from workers.notifier.planning import Planner
from workers.notifier.sender import Sender
from workers.notifier.store import DeliveryStore
from workers.notifier.webhooks import Webhook
from workers.relay import close_nats, connect_nats
from workers.settings import NotifySettings, Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """One of the two notifier roles: what it reads, as whom, through which consumer."""

    name: str
    user: str
    subject: str
    durable: str
    sensitive: bool


ORDINARY = Kind("notifier", "notifier", "docket.*.tickets.>", "notifier", False)
SENSITIVE = Kind("sensitive notifier", "sensitive_notifier", "docket.*.sensitive.>", "sensitive_notifier", True)


def channels_for(settings: NotifySettings, clients: ProviderClients, sensitive: bool) -> dict[str, Channel]:
    """The channels with settings; webhooks only for ordinary tickets. Says once which are off."""
    channels: dict[str, Channel] = {}
    if settings.whatsapp_on:
        channels["whatsapp"] = WhatsApp(settings, clients)
    if settings.sms_on:
        channels["sms"] = SMS(settings, clients)
    if settings.email_on:
        channels["email"] = Email(settings)
    if not sensitive:
        channels["webhook"] = Webhook(settings)
    missing = {
        "whatsapp": "DOCKET_WHATSAPP_TOKEN and DOCKET_WHATSAPP_PHONE_NUMBER_ID",
        "sms": "DOCKET_SMS_ACCOUNT_SID, DOCKET_SMS_AUTH_TOKEN and DOCKET_SMS_FROM",
        "email": "DOCKET_SMTP_URL and DOCKET_SMTP_FROM",
    }
    for channel, needs in missing.items():
        if channel not in channels:
            log.info("notifications by %s are off: set %s to turn them on", channel, needs)
    return channels


class Notifier:
    def __init__(
        self,
        app: Docket,
        database_url: str,
        nats_url: str,
        settings: NotifySettings,
        kind: Kind = ORDINARY,
        *,
        subject: str | None = None,
        durable: str | None = None,
        replicas: int | None = None,
    ) -> None:
        """`subject` and `durable` default to the role's; tests narrow them to their own tenant."""
        self.app, self.database_url, self.nats_url = app, database_url, nats_url
        self.settings, self.kind = settings, kind
        self.subject, self.durable = subject or kind.subject, durable or kind.durable
        self.replicas = replicas
        self.sender: Sender | None = None

    async def run(self, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        await asyncio.to_thread(create_delivery_tables, self.app.recorder.datastore)
        client = await connect_nats(self.nats_url, f"docket-{self.kind.user}", inbox_prefix=f"_INBOX_{self.kind.user}")
        # Each send in flight records its outcome on a connection of its own for a moment.
        connections = min(self.settings.concurrency, 8) + 2
        pool = AsyncConnectionPool(self.database_url, min_size=2, max_size=connections, kwargs={"autocommit": True}, open=False)
        http = ProviderClients(self.settings)
        try:
            await pool.open()
            await self._serve(client, pool, http, stop, ready)
        finally:
            await http.aclose()
            await pool.close()
            await close_nats(client)
        log.info("%s stopped after sending %d deliveries", self.kind.name, self.sender.sent if self.sender else 0)

    async def _serve(
        self, client: NATS, pool: AsyncConnectionPool, http: ProviderClients, stop: asyncio.Event, ready: Callable[[], None] | None
    ) -> None:
        js = client.jetstream()
        cipher = self.app.mapper.cipher
        seal = cipher.encrypt if cipher is not None else (lambda data: data)
        unseal = cipher.decrypt if cipher is not None else (lambda data: data)
        store = DeliveryStore(pool, seal, unseal, self.kind.sensitive)
        channels = channels_for(self.settings, http, self.kind.sensitive)
        planner = Planner(self.settings, set(channels), self.kind.sensitive)
        consumer = Consumer(self.app, js, planner, store, self.subject, self.durable, self.settings, self.kind.name)
        self.sender = Sender(store, channels, self.settings, js, self.kind.name, self.replicas)
        log.info("%s sends by %s", self.kind.name, ", ".join(sorted(channels)) or "nothing: every channel is off")
        tasks = [
            asyncio.create_task(consumer.run(stop)),
            asyncio.create_task(self.sender.run(stop)),
            asyncio.create_task(_relay_wakes(consumer, self.sender, stop)),
        ]
        if ready is not None:
            ready()
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _relay_wakes(consumer: Consumer, sender: Sender, stop: asyncio.Event) -> None:
    """Wakes the sender whenever the consumer has recorded a batch: new deliveries go at once."""
    while not stop.is_set():
        waiter = asyncio.ensure_future(consumer.recorded.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        consumer.recorded.clear()
        sender.wake.set()


async def run_notifier(app: Docket, found: Endpoints, settings: Settings, stop: asyncio.Event, sensitive: bool = False) -> None:
    """The role as `docket serve` and `docket notifier [--sensitive]` run it."""
    kind = SENSITIVE if sensitive else ORDINARY
    if found.nats_url is None:
        raise SettingsError(f"The {kind.name} needs DOCKET_NATS_URL (nats://{kind.user}:password@host:4222).")
    await Notifier(app, found.database_url, found.nats_url, settings.notify, kind, replicas=found.stream_replicas).run(stop)
