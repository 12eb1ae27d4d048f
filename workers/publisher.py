"""Publishes each tenant's dashboard figures to a JetStream key-value bucket as they change.

The dashboard projection marks a tenant dirty in the transaction that changes its figures; every
INTERVAL seconds the publisher takes the dirty tenants and puts their figures under
`<tenant>.dashboard.<view>`. A burst of events therefore gives at most one update per tenant and
view per interval, and a publisher that was down catches up on what was marked meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import msgspec
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.engine import Engine

from projections.dashboard import LIVE
from projections.dashboard_queries import Scope, metrics, sla, volume, workload
from workers.relay import connect_nats

log = logging.getLogger(__name__)

BUCKET = "DOCKET_DASHBOARD"
INTERVAL = 1.0
VIEWS = {"metrics": metrics, "volume": volume, "sla": sla, "workload": workload}

_encoder = msgspec.json.Encoder()


async def run_publisher(engine: Engine, nats_url: str, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    client = await connect_nats(nats_url, "docket-dashboard-publisher", inbox_prefix="_INBOX_projector")
    try:
        kv = await dashboard_bucket(client.jetstream())
        log.info("publishing dashboard figures to key-value bucket %s", BUCKET)
        while not stop.is_set():
            await publish_dirty(kv, engine)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        await client.drain()


async def dashboard_bucket(js) -> KeyValue:
    try:
        return await js.key_value(BUCKET)
    except BucketNotFoundError:
        log.info("creating key-value bucket %s", BUCKET)
        return await js.create_key_value(bucket=BUCKET, history=1, description="Docket dashboard figures per tenant")


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
    dirty = LIVE.dirty
    with engine.begin() as conn:
        return [row.tenant for row in conn.execute(delete(dirty).returning(dirty.c.tenant))]


def mark_dirty(engine: Engine, tenants: list[str]) -> None:
    dirty = LIVE.dirty
    rows = [{"tenant": tenant, "since": datetime.now(UTC)} for tenant in tenants]
    with engine.begin() as conn:
        conn.execute(upsert(dirty).values(rows).on_conflict_do_nothing(index_elements=["tenant"]))


async def publish_tenant(kv: KeyValue, engine: Engine, tenant: str) -> None:
    scope = Scope(tenant)
    for view, figures in VIEWS.items():
        value = await asyncio.to_thread(figures, engine, scope)
        await kv.put(f"{tenant}.dashboard.{view}", _encoder.encode(value))
    log.debug("published dashboard figures of tenant %s", tenant)
