"""The delivery record: one row per (event, recipient, channel), written by the notifier
(workers/notifier/), read by the API (a ticket's notifications) and the CLI (status, retry).

It sits here, below api/, because the API reads it and may not import workers/ (as
relay_stalls.py does). It is not a read model: no event builds it; it is the notifier's own
record of what it did about the events, and the one place that says a message went once.

Its primary key is made from the event's notification id, the recipient's address and the
channel, so every notifier that meets the same event computes the same rows and the database
keeps the first: a message redelivered by JetStream, a second notifier or a restarted one finds
its row there already. A row is sent by whichever notifier claims it first (a lease, so that a
notifier that dies while sending leaves it to the next after the lease).
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.postgres import PostgresDatastore
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, LargeBinary, MetaData, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.schema import CreateIndex, CreateTable

STATUSES = ("pending", "sent", "failed", "dead", "suppressed")
RETRYABLE = ("dead", "failed")
DIALECT = postgresql.psycopg.dialect()

metadata = MetaData()
deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),  # from (notification id, recipient key, channel)
    Column("tenant", Text, nullable=False),
    Column("ticket_id", PgUUID(as_uuid=True), nullable=False),
    Column("notification_id", BigInteger, nullable=False),  # the event's
    Column("event", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("recipient_kind", Text, nullable=False),  # reporter, assignee, team_manager, address, webhook
    Column("recipient_id", Text),  # the user, where the recipient is one
    Column("recipient_key", Text, nullable=False),  # a hash of the address (or of who, when there is none)
    Column("recipient", Text, nullable=False),  # masked: what answers show
    Column("channel", Text, nullable=False),
    Column("template", Text, nullable=False),
    Column("sensitive", Boolean, nullable=False),  # only the sensitive notifier sends these
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("provider_message_id", Text),
    Column("last_error", Text),  # addresses masked
    Column("message", LargeBinary),  # what to send, address included: encrypted with the event store's key
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("sent_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),  # when a pending or failed row is due
    Column("lease_until", DateTime(timezone=True)),  # a notifier is sending it until then
    Column("dlq_published", Boolean, nullable=False, server_default=text("false")),  # a dead row, on DOCKET_NOTIFY_DLQ
    UniqueConstraint("notification_id", "recipient_key", "channel", name="notification_deliveries_once"),
    Index("notification_deliveries_ticket", "ticket_id", "created_at"),
    Index(
        "notification_deliveries_due", "sensitive", "channel", "next_attempt_at", postgresql_where=text("status IN ('pending', 'failed')")
    ),
    Index("notification_deliveries_queue", "recipient_key", "notification_id", postgresql_where=text("status IN ('pending', 'failed')")),
    Index("notification_deliveries_undead", "sensitive", postgresql_where=text("status = 'dead' AND NOT dlq_published")),
    Index("notification_deliveries_status", "status", "updated_at"),
)
# Tokens per channel, shared by every notifier: a rate limit is the provider's, not one process's.
rate_limits = Table(
    "notification_rate_limits",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("tokens", postgresql.DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)


class StatusCount(msgspec.Struct, frozen=True):
    status: str
    channel: str
    count: int


def create_delivery_tables(datastore: PostgresDatastore) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('docket.schema'))")
        for table in metadata.sorted_tables:
            curs.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=DIALECT)))
            for index in table.indexes:
                curs.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=DIALECT)))


def delivery_id(notification_id: int, recipient_key: str, channel: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"docket:delivery:{notification_id}:{recipient_key}:{channel}")


def status_counts(datastore: PostgresDatastore) -> list[StatusCount]:
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass('notification_deliveries') AS found")
        if curs.fetchone()["found"] is None:
            return []
        curs.execute(
            "SELECT status, channel, count(*) AS count FROM notification_deliveries GROUP BY status, channel ORDER BY status, channel"
        )
        return [StatusCount(**row) for row in curs.fetchall()]


class Requeued(msgspec.Struct, frozen=True):
    id: UUID
    status_before: str
    queued: bool
    why: str | None = None  # why it was not queued


def retry_deliveries(datastore: PostgresDatastore, ids: list[UUID] | None = None, dead_since: datetime | None = None) -> list[Requeued]:
    """Queues dead (or failed) deliveries to be sent again at once, their attempts counted anew:
    those named, or every dead one since a time. A sent one is never sent twice; a suppressed one
    was kept back on purpose. A running notifier sends what is queued."""
    with datastore.transaction(commit=True) as curs:
        if ids is not None:
            curs.execute("SELECT id, status FROM notification_deliveries WHERE id = ANY(%s) FOR UPDATE", (ids,))
        else:
            curs.execute(
                "SELECT id, status FROM notification_deliveries WHERE status = 'dead' AND updated_at >= %s ORDER BY updated_at FOR UPDATE",
                (dead_since,),
            )
        found = {row["id"]: row["status"] for row in curs.fetchall()}
        queued = [delivery for delivery, status in found.items() if status in RETRYABLE]
        if queued:
            curs.execute(
                "UPDATE notification_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL,"
                " dlq_published = false, updated_at = now() WHERE id = ANY(%s)",
                (queued,),
            )
    answers = [
        Requeued(id=d, status_before=s, queued=s in RETRYABLE, why=None if s in RETRYABLE else _why_not(s)) for d, s in found.items()
    ]
    missing = [Requeued(id=d, status_before="unknown", queued=False, why="no such delivery") for d in ids or () if d not in found]
    return answers + missing


def _why_not(status: str) -> str:
    return {
        "sent": "it was sent already: never twice",
        "suppressed": "it was kept back on purpose (opt-out, suppression list, no address or channel)",
        "pending": "it is waiting to be sent already",
    }.get(status, status)
