"""The notifier's SQL on the delivery record (commands/deliveries.py has the table).

Every write is one short statement or transaction on a pooled connection: recording an event's
deliveries (ON CONFLICT DO NOTHING: the first notifier to record one wins, and a repeat changes
nothing), claiming due deliveries (FOR UPDATE SKIP LOCKED, then a lease: two notifiers never
claim one row), and recording each outcome. A claim also takes tokens from the channel's bucket,
shared by every notifier, so that all of them together keep to the channel's rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from workers.notifier.planning import Planned

Seal = Callable[[bytes], bytes]

INSERT = """
INSERT INTO notification_deliveries (id, tenant, ticket_id, notification_id, event, rule, recipient_kind, recipient_id, recipient_key,
    recipient, channel, template, sensitive, status, last_error, message, next_attempt_at)
VALUES (%(id)s, %(tenant)s, %(ticket_id)s, %(notification_id)s, %(event)s, %(rule)s, %(recipient_kind)s, %(recipient_id)s,
    %(recipient_key)s, %(recipient)s, %(channel)s, %(template)s, %(sensitive)s, %(status)s, %(last_error)s, %(message)s,
    CASE WHEN %(status)s = 'pending' THEN now() END)
ON CONFLICT DO NOTHING
"""
# Due, and the first still to go to its address on its channel: one person's messages go in the
# order of their events, never "resolved" before "in progress".
DUE = """
SELECT id FROM notification_deliveries d
WHERE status IN ('pending', 'failed') AND sensitive = %s AND channel = %s AND next_attempt_at <= now()
    AND (lease_until IS NULL OR lease_until < now())
    AND NOT EXISTS (
        SELECT 1 FROM notification_deliveries e
        WHERE e.recipient_key = d.recipient_key AND e.notification_id < d.notification_id AND e.status IN ('pending', 'failed')
    )
ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED
"""
LEASE = """
UPDATE notification_deliveries SET lease_until = now() + make_interval(secs => %s), attempts = attempts + 1, updated_at = now()
WHERE id = ANY(%s)
RETURNING id, tenant, ticket_id, notification_id, event, rule, recipient_kind, recipient, channel, attempts, message
"""
TOKENS = """
INSERT INTO notification_rate_limits (channel, tokens) VALUES (%s, %s) ON CONFLICT (channel) DO NOTHING;
"""
TAKE = "SELECT tokens, extract(epoch FROM now() - updated_at) AS idle FROM notification_rate_limits WHERE channel = %s FOR UPDATE"
SPEND = "UPDATE notification_rate_limits SET tokens = %s, updated_at = now() WHERE channel = %s"
SENT = """
UPDATE notification_deliveries SET status = 'sent', provider_message_id = %s, sent_at = now(), updated_at = now(), lease_until = NULL,
    next_attempt_at = NULL WHERE id = %s
"""
FAILED = """
UPDATE notification_deliveries SET status = 'failed', last_error = %s, next_attempt_at = now() + make_interval(secs => %s),
    updated_at = now(), lease_until = NULL WHERE id = %s
"""
DEAD = """
UPDATE notification_deliveries SET status = 'dead', last_error = %s, next_attempt_at = NULL, updated_at = now(), lease_until = NULL,
    dlq_published = false WHERE id = %s
"""
UNPUBLISHED = """
SELECT id, tenant, ticket_id, notification_id, event, rule, channel, recipient, recipient_kind, attempts, last_error, updated_at
FROM notification_deliveries WHERE status = 'dead' AND NOT dlq_published AND sensitive = %s ORDER BY updated_at LIMIT %s
"""
PUBLISHED = "UPDATE notification_deliveries SET dlq_published = true WHERE id = %s AND status = 'dead' AND attempts = %s"
# Of the deliveries first in their address's queue (as DUE), when the soonest comes due.
NEXT_DUE = """
SELECT extract(epoch FROM min(greatest(next_attempt_at, coalesce(lease_until, next_attempt_at))) - now()) FROM notification_deliveries d
WHERE status IN ('pending', 'failed') AND sensitive = %s
    AND NOT EXISTS (
        SELECT 1 FROM notification_deliveries e
        WHERE e.recipient_key = d.recipient_key AND e.notification_id < d.notification_id AND e.status IN ('pending', 'failed')
    )
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: UUID
    tenant: str
    ticket_id: UUID
    notification_id: int
    event: str
    rule: str
    recipient_kind: str
    recipient: str
    channel: str
    attempts: int  # this one included
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Dead:
    id: UUID
    tenant: str
    ticket_id: UUID
    notification_id: int
    event: str
    rule: str
    channel: str
    recipient: str
    recipient_kind: str
    attempts: int
    last_error: str | None
    updated_at: datetime


class DeliveryStore:
    def __init__(self, pool: AsyncConnectionPool, seal: Seal, unseal: Seal, sensitive: bool) -> None:
        self.pool = pool
        self.seal, self.unseal = seal, unseal
        self.sensitive = sensitive

    async def record(self, planned: list[Planned]) -> None:
        """Writes the rows that are not there yet, all in one transaction."""
        if not planned:
            return
        rows = [self._row(p) for p in planned]
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(INSERT, rows)

    def _row(self, planned: Planned) -> dict[str, Any]:
        row = {name: getattr(planned, name) for name in Planned.__slots__ if name != "message"}
        row["message"] = self.seal(msgspec.json.encode(planned.message)) if planned.message is not None else None
        return row

    async def claim(
        self, channels: Sequence[str], limit: int, lease: float, rates: Mapping[str, float]
    ) -> tuple[list[Claimed], float | None]:
        """Up to `limit` due deliveries, channel by channel (each in turn first, so that one slow
        channel's backlog does not hold up the others), as many of each as its bucket has tokens
        for, each leased to this notifier for `lease` seconds; and, when a bucket ran short, how
        many seconds until its next token. One transaction."""
        leased: list[UUID] = []
        waits: list[float] = []
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            for channel in channels:
                room = limit - len(leased)
                if room <= 0:
                    break
                await cur.execute(DUE, (self.sensitive, channel, room))
                due = [row["id"] for row in await cur.fetchall()]
                if not due:
                    continue
                granted, wait = await self._tokens(cur, channel, len(due), rates[channel])
                leased += due[:granted]
                if wait is not None:
                    waits.append(wait)
            if not leased:
                return [], min(waits, default=None)
            await cur.execute(LEASE, (lease, leased))
            claimed = [self._claimed(row) for row in await cur.fetchall()]
        return claimed, min(waits, default=None)

    async def _tokens(self, cur: Any, channel: str, wanted: int, rate: float) -> tuple[int, float | None]:
        """Takes up to `wanted` tokens of the channel's bucket (it refills at `rate` a second and
        holds a second's worth, at least one)."""
        burst = max(rate, 1.0)
        await cur.execute(TOKENS, (channel, burst))
        await cur.execute(TAKE, (channel,))
        row = await cur.fetchone()
        available = min(burst, row["tokens"] + float(row["idle"]) * rate)
        granted = min(wanted, math.floor(available))
        await cur.execute(SPEND, (available - granted, channel))
        wait = (1 - (available - granted)) / rate if granted < wanted else None
        return granted, wait

    def _claimed(self, row: dict[str, Any]) -> Claimed:
        message = msgspec.json.decode(self.unseal(row.pop("message"))) if row.get("message") is not None else {}
        return Claimed(message=message, **row)

    async def sent(self, delivery: UUID, provider_message_id: str | None) -> None:
        await self._execute(SENT, (provider_message_id, delivery))

    async def failed(self, delivery: UUID, error: str, retry_in: float) -> None:
        await self._execute(FAILED, (error, retry_in, delivery))

    async def dead(self, delivery: UUID, error: str) -> None:
        await self._execute(DEAD, (error, delivery))

    async def unpublished_dead(self, limit: int = 100) -> list[Dead]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(UNPUBLISHED, (self.sensitive, limit))
            return [Dead(**row) for row in await cur.fetchall()]

    async def published(self, delivery: UUID, attempts: int) -> None:
        await self._execute(PUBLISHED, (delivery, attempts))

    async def seconds_to_next_due(self) -> float | None:
        """When the soonest pending or failed delivery (or an expired lease) comes due; None: none."""
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(NEXT_DUE, (self.sensitive,))
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        return max(float(row[0]), 0.0)

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(sql, params)
