"""The `audit_chain` projection: each tenant's hash chain over the events as stored, and what the
audit trail needs to read the event store by tenant without decrypting every event.

For every event, in notification order, one row: its tenant, aggregate, time and chain hash
(domain/audit_chain.py says how it is computed, over the stored, encrypted bytes). Per tenant, the
head of its chain; per aggregate, its tenant, whether it is sensitive (a ticket made sensitive
later is sensitive for all its events) and which of its fields were redacted. Rows and tracking
position commit together, like every projection's, so each event is chained exactly once.

It follows every topic (`topics` is empty: no filter), so an aggregate added later is chained too;
the stored bytes are read again by the batch's notification ids, since the loop hands over events
already decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
)

from domain.audit_chain import genesis, link, state_digest
from projections.base import TrackedProjection
from projections.rows import RowWriter

# The table eventsourcing stores the Docket application's events in (its name, lower case, and
# `_events`); tests check it is the application's.
EVENTS_TABLE = "docket_events"
UNKNOWN_TENANT = ""  # an event that names no tenant and whose aggregate never did


@dataclass(frozen=True)
class AuditTables:
    suffix: str
    metadata: MetaData
    chain: Table
    heads: Table
    aggregates: Table


def audit_tables(suffix: str = "") -> AuditTables:
    metadata = MetaData()
    chain = Table(
        f"audit_chain{suffix}",
        metadata,
        Column("notification_id", BigInteger, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("aggregate_id", Uuid, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),  # the event's own time
        Column("event", Text, nullable=False),  # its aggregate's class and its own: Ticket.StatusChanged
        Column("hash", LargeBinary, nullable=False),
        PrimaryKeyConstraint("notification_id", name=f"audit_chain{suffix}_pkey"),
        Index(f"audit_chain{suffix}_tenant", "tenant", "notification_id"),
        Index(f"audit_chain{suffix}_aggregate", "aggregate_id", "notification_id"),
    )
    heads = Table(
        f"audit_heads{suffix}",
        metadata,
        Column("tenant", Text, nullable=False),
        Column("notification_id", BigInteger, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        Column("length", BigInteger, nullable=False),  # events in the chain
        PrimaryKeyConstraint("tenant", name=f"audit_heads{suffix}_pkey"),
    )
    aggregates = Table(
        f"audit_aggregates{suffix}",
        metadata,
        Column("aggregate_id", Uuid, nullable=False),
        Column("tenant", Text, nullable=False),
        Column("aggregate_type", Text, nullable=False),
        Column("sensitive", Boolean, nullable=False),
        Column("redacted", ARRAY(Text), nullable=False),
        PrimaryKeyConstraint("aggregate_id", name=f"audit_aggregates{suffix}_pkey"),
    )
    return AuditTables(suffix, metadata, chain, heads, aggregates)


def aggregate_type(topic: str) -> str:
    """`domain.ticket:Ticket.StatusChanged` -> `Ticket`."""
    return topic.partition(":")[2].rpartition(".")[0] or topic


def qualified_event(topic: str) -> str:
    """`domain.ticket:Ticket.StatusChanged` -> `Ticket.StatusChanged`."""
    return topic.partition(":")[2] or topic


def event_type(topic: str) -> str:
    """`domain.ticket:Ticket.StatusChanged` -> `StatusChanged`."""
    return topic.rpartition(".")[2]


class AuditChainProjection(TrackedProjection):
    name = "audit_chain"
    topics: tuple[str, ...] = ()  # every event: the chain has no gaps
    version = 1
    tables: AuditTables
    tables_for = staticmethod(audit_tables)

    def apply_all(self, curs: Cursor[Any], items: list[tuple[Any, Tracking]]) -> None:
        stored = _stored(curs, items[0][1].notification_id, items[-1][1].notification_id)
        rows = RowWriter(curs)
        rows.load(self.tables.aggregates, {e.originator_id for e, _ in items})
        tenants = {getattr(e, "tenant", None) for e, _ in items}
        tenants |= {row["tenant"] for row in (rows.row(self.tables.aggregates, e.originator_id) for e, _ in items) if row}
        rows.load(self.tables.heads, tenants - {None})
        for domain_event, tracking in items:
            found = stored.get(tracking.notification_id)
            if found is None:  # read in this very transaction: only a change to the store under us
                raise LookupError(f"notification {tracking.notification_id} is not in the event store")
            self._chain(rows, domain_event, tracking.notification_id, *found)
        rows.flush()

    def _chain(self, rows: RowWriter, e: Any, notification_id: int, aggregate_id: Any, version: int, topic: str, state: bytes) -> None:
        tenant = self._remember(rows, e, topic)
        head = rows.row(self.tables.heads, tenant)
        previous = head["hash"] if head else genesis(tenant)
        digest = link(previous, notification_id, aggregate_id.bytes, version, topic.encode(), state_digest(state))
        rows.append(
            self.tables.chain,
            {
                "notification_id": notification_id,
                "tenant": tenant,
                "aggregate_id": aggregate_id,
                "at": e.timestamp,
                "event": qualified_event(topic),
                "hash": digest,
            },
        )
        moved = {"notification_id": notification_id, "hash": digest}
        if head is None:
            rows.add(self.tables.heads, {"tenant": tenant, **moved, "length": 1})
        else:
            rows.change(self.tables.heads, tenant, {**moved, "length": head["length"] + 1})

    def _remember(self, rows: RowWriter, e: Any, topic: str) -> str:
        """The event's tenant (its own, else its aggregate's), after noting what the event changes
        of its aggregate: made sensitive, a field redacted."""
        table, key = self.tables.aggregates, e.originator_id
        known = rows.row(table, key)
        tenant = getattr(e, "tenant", None) or (known["tenant"] if known else UNKNOWN_TENANT)
        sensitive = bool(getattr(e, "is_sensitive", False))
        field = getattr(e, "field", None) if event_type(topic) == "FieldRedacted" else None
        if known is None:
            rows.add(
                table,
                {
                    "aggregate_id": key,
                    "tenant": tenant,
                    "aggregate_type": aggregate_type(topic),
                    "sensitive": sensitive,
                    "redacted": [field] if isinstance(field, str) else [],
                },
            )
            return tenant
        changes: dict[str, Any] = {}
        if sensitive and not known["sensitive"]:
            changes["sensitive"] = True
        if isinstance(field, str) and field not in known["redacted"]:
            changes["redacted"] = [*known["redacted"], field]
        if changes:  # seldom: most events change nothing of their aggregate that the trail needs
            rows.change(table, key, changes)
        return tenant


def _stored(curs: Cursor[Any], first: int, last: int) -> dict[int, tuple[Any, int, str, bytes]]:
    """The events as stored, by notification id, from first to last: read in the batch's own
    transaction, as plain tuples (a dict per row costs more than the rest of the read)."""
    query = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} WHERE notification_id BETWEEN %s AND %s"
    ).format(Identifier(EVENTS_TABLE))
    with curs.connection.cursor(row_factory=tuple_row) as plain:
        plain.execute(query, (first, last))
        return {notification_id: (originator_id, version, topic, state) for notification_id, originator_id, version, topic, state in plain}


LIVE = audit_tables()
