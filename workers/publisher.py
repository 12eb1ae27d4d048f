"""Publishes each tenant's dashboard figures to a JetStream key-value bucket as they change.

The dashboard projection marks a tenant dirty in the transaction that changes its figures; every
INTERVAL seconds the publisher takes the dirty tenants and puts their figures under
`<tenant>.dashboard.<view>`. A burst of events therefore gives at most one update per tenant and
view per interval, and a publisher that was down catches up on what was marked meanwhile.

NATS or the database going away never ends the publisher (the projections run beside it, in the
projector, and would end with it): every wait on NATS is bounded, a round that fails leaves its
tenants marked, and the next round tries again. It logs when it stalls and when it resumes, once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import msgspec
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from projections.dashboard import LIVE
from projections.dashboard_queries import Scope, metrics, sla, volume, workload
from workers.relay import close_nats, connect_nats, ensure_replicas
from workers.stalls import StallLog

log = logging.getLogger(__name__)

BUCKET = "DOCKET_DASHBOARD"
INTERVAL = 1.0
PUT_TIMEOUT = 5.0  # the longest one put waits for JetStream's acknowledgement
VIEWS = {"metrics": metrics, "volume": volume, "sla": sla, "workload": workload}

_encoder = msgspec.json.Encoder()


async def run_publisher(
    engine: Engine, nats_url: str, stop: asyncio.Event, interval: float = INTERVAL, replicas: int | None = None
) -> None:
    """Publishes every interval until stopped; replicas (DOCKET_STREAM_REPLICAS) are the bucket's."""
    client, kv = None, None
    stall = StallLog(log)
    try:
        while not stop.is_set():
            try:
                if client is None:
                    client = await connect_nats(nats_url, "docket-dashboard-publisher", inbox_prefix="_INBOX_projector")
                answered = kv is None  # a round with nothing to publish asks NATS nothing
                if kv is None:
                    kv = await dashboard_bucket(client.jetstream(timeout=PUT_TIMEOUT), replicas)
                    if not stall.stalled:
                        log.info("publishing dashboard figures to key-value bucket %s", BUCKET)
                answered = bool(await publish_dirty(kv, engine)) or answered
            except (TimeoutError, NatsError) as error:
                stall.failed("dashboard publisher stalled (%s); trying again every %gs", str(error) or type(error).__name__, interval)
                kv = None  # found again next round: made again, if NATS lost it
            except SQLAlchemyError as error:  # the marks it could not take stay for a later round
                stall.failed("dashboard publisher stalled (database: %s); trying again every %gs", type(error).__name__, interval)
            else:
                if answered:
                    stall.succeeded("dashboard publisher resumed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        if client is not None:
            await close_nats(client)


async def dashboard_bucket(js: JetStreamContext, replicas: int | None = None) -> KeyValue:
    """The bucket, made if missing; with the replicas asked for (None keeps what it has)."""
    try:
        kv = await js.key_value(BUCKET)
    except BucketNotFoundError:
        log.info("creating key-value bucket %s with %s replicas", BUCKET, replicas or 1)
        return await js.create_key_value(
            bucket=BUCKET, history=1, description="Docket dashboard figures per tenant", replicas=replicas or 1
        )
    await ensure_replicas(js, (await js.stream_info(f"KV_{BUCKET}")).config, replicas)
    return kv


async def publish_dirty(kv: KeyValue, engine: Engine) -> list[str]:
    """Publishes the figures of every tenant marked dirty; returns those tenants. Should NATS fail
    (or the publisher stop) midway, the tenants not yet published are marked again, for the next round."""
    tenants = await asyncio.to_thread(take_dirty_tenants, engine)
    for i, tenant in enumerate(tenants):
        try:
            await publish_tenant(kv, engine, tenant)
        except BaseException:
            await asyncio.to_thread(mark_dirty, engine, tenants[i:])
            raise
    return tenants


def take_dirty_tenants(engine: Engine) -> list[str]:
    """Takes the marks no open transaction holds. One that a batch of the projection has touched
    and not yet committed is left for a later round: taken now, its figures could be published
    before the batch's changes (and never after); waited for, the DELETE would hold the marks it
    took first while the batch went on to touch those, and each would wait for the other (a
    deadlock, which ended the projector)."""
    dirty = LIVE.dirty
    free = select(dirty.c.tenant).with_for_update(skip_locked=True)
    with engine.begin() as conn:
        return [row.tenant for row in conn.execute(delete(dirty).where(dirty.c.tenant.in_(free)).returning(dirty.c.tenant))]


def mark_dirty(engine: Engine, tenants: list[str]) -> None:
    dirty = LIVE.dirty
    # In order, as a batch of the projection marks them: two writers that take rows in one order never deadlock.
    rows = [{"tenant": tenant, "since": datetime.now(UTC)} for tenant in sorted(tenants)]
    with engine.begin() as conn:
        conn.execute(upsert(dirty).values(rows).on_conflict_do_nothing(index_elements=["tenant"]))


async def publish_tenant(kv: KeyValue, engine: Engine, tenant: str) -> None:
    scope = Scope(tenant)
    for view, figures in VIEWS.items():
        value = await asyncio.to_thread(figures, engine, scope)
        await kv.put(f"{tenant}.dashboard.{view}", _encoder.encode(value))
    log.debug("published dashboard figures of tenant %s", tenant)
