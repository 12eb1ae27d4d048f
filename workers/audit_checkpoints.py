"""Signs the head of every tenant's audit chain and publishes it to NATS, every minute with new events.

Each round signs the heads that moved since their last checkpoint (projections/audit_checkpoints.py
records them in the same step), then puts every checkpoint not yet published under `<tenant>.head`
in the key-value bucket DOCKET_AUDIT, which keeps the last HISTORY of each key. NATS away never ends
the loop (it runs in the projector, beside the projections): the checkpoints wait in PostgreSQL and
go out on a later round. `docket audit checkpoint` does one round on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

import msgspec
from eventsourcing.postgres import PostgresDatastore
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from commands.app import Docket
from domain.audit_keys import SigningKey, signing_key_from_text
from projections.audit_checkpoints import Checkpoint, mark_published, register_key, sign_heads, unpublished
from workers.relay import close_nats, connect_nats, ensure_replicas
from workers.settings import Settings
from workers.stalls import StallLog

log = logging.getLogger(__name__)

BUCKET = "DOCKET_AUDIT"
HISTORY = 64  # checkpoints kept per tenant in NATS: JetStream's most; all of them stay in PostgreSQL
INTERVAL = 60.0
TIMEOUT = 5.0  # the longest one request to JetStream waits

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Checkpoint).decode


def head_key(tenant: str) -> str:
    return f"{tenant}.head"


def inbox_for(nats_url: str) -> str:
    """The inbox prefix the URL's user may read (_INBOX_<user>, see deploy/README.md); _INBOX without one."""
    user = urlsplit(nats_url.split(",")[0]).username
    return f"_INBOX_{user}" if user else "_INBOX"


async def run_checkpointer(
    datastore: PostgresDatastore,
    nats_url: str,
    key: SigningKey,
    stop: asyncio.Event,
    interval: float = INTERVAL,
    replicas: int | None = None,
) -> None:
    """Checkpoints until stopped: a round at once, then one every interval."""
    await asyncio.to_thread(register_key, datastore, key.verify_key)
    log.info("signing audit checkpoints with key %s every %gs, to key-value bucket %s", key.key_id, interval, BUCKET)
    client, kv = None, None
    stall = StallLog(log)
    try:
        while not stop.is_set():
            try:
                await asyncio.to_thread(sign_heads, datastore, key)
                if client is None:
                    client = await connect_nats(nats_url, "docket-audit-checkpoints", inbox_prefix=inbox_for(nats_url))
                if kv is None:
                    kv = await audit_bucket(client.jetstream(timeout=TIMEOUT), replicas)
                await publish_pending(kv, datastore)
            except (TimeoutError, NatsError) as error:
                stall.failed("audit checkpoints not published (%s); trying again every %gs", str(error) or type(error).__name__, interval)
                kv = None
            except Exception as error:  # noqa: BLE001 - the database may be away: the next round tries again
                stall.failed("audit checkpoints not signed (%s: %s); trying again every %gs", type(error).__name__, error, interval)
            else:
                stall.succeeded("audit checkpoints published again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        if client is not None:
            await close_nats(client)


async def audit_bucket(js: JetStreamContext, replicas: int | None = None) -> KeyValue:
    """The bucket, made if missing, keeping HISTORY checkpoints per tenant."""
    try:
        kv = await js.key_value(BUCKET)
    except BucketNotFoundError:
        log.info("creating key-value bucket %s with %s replicas", BUCKET, replicas or 1)
        return await js.create_key_value(
            bucket=BUCKET, history=HISTORY, description="Docket signed audit chain checkpoints per tenant", replicas=replicas or 1
        )
    await ensure_replicas(js, (await js.stream_info(f"KV_{BUCKET}")).config, replicas)
    return kv


async def publish_pending(kv: KeyValue, datastore: PostgresDatastore) -> int:
    """Puts every recorded checkpoint not yet published, oldest first; returns how many."""
    published = 0
    while pending := await asyncio.to_thread(unpublished, datastore):
        for checkpoint in pending:
            await kv.put(head_key(checkpoint.tenant), _encode(checkpoint))
        await asyncio.to_thread(mark_published, datastore, pending)
        published += len(pending)
    if published:
        log.info("published %d audit checkpoints", published)
    return published


async def checkpoint_now(
    datastore: PostgresDatastore, nats_url: str | None, key: SigningKey, tenant: str | None = None
) -> list[Checkpoint]:
    """One round on demand: signs the heads that moved, and publishes when NATS is given."""
    await asyncio.to_thread(register_key, datastore, key.verify_key)
    signed = await asyncio.to_thread(sign_heads, datastore, key, tenant)
    if nats_url is not None:
        client = await connect_nats(nats_url, "docket-audit-checkpoint", inbox_prefix=inbox_for(nats_url))
        try:
            await publish_pending(await audit_bucket(client.jetstream(timeout=TIMEOUT)), datastore)
        finally:
            await close_nats(client)
    return signed


async def published_checkpoints(nats_url: str, tenant: str) -> list[Checkpoint | str]:
    """The tenant's checkpoints in NATS, oldest first; a value that is not a checkpoint is given
    as the text saying so (verify reports it rather than failing on it)."""
    client = await connect_nats(nats_url, "docket-audit-verify", inbox_prefix=inbox_for(nats_url))
    try:
        js = client.jetstream(timeout=TIMEOUT)
        try:
            kv = await js.key_value(BUCKET)
            entries = await kv.history(head_key(tenant))
        except (BucketNotFoundError, NoKeysError):
            return []
    finally:
        await close_nats(client)
    found: list[Checkpoint | str] = []
    for entry in entries:
        try:
            found.append(_decode(entry.value or b""))
        except msgspec.DecodeError as error:
            found.append(f"revision {entry.revision} of {BUCKET} {head_key(tenant)} is not a checkpoint ({error})")
    return found


async def run_audit_checkpoints(app: Docket, nats_url: str, stop: asyncio.Event, settings: Settings | None) -> None:
    """The checkpointer as the projector runs it, with the configured key and replicas."""
    if settings is None:  # a projector started without settings (a test's) signs nothing
        await stop.wait()
        return
    key = signing_key_from_text(settings.audit_signing_key)
    await run_checkpointer(app.recorder.datastore, nats_url, key, stop, replicas=settings.stream_replicas)
