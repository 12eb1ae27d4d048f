"""Signed checkpoints of the audit chain, and the public keys that signed them, kept in PostgreSQL.

A checkpoint says: tenant T's chain stood at notification N with head H at time A, signed by key K.
The checkpointer signs the heads that moved since their last checkpoint, records them here and
then publishes them to NATS (DOCKET_AUDIT); one recorded but not yet published is published on the
next round. These are not a read model (no event writes them) and no rebuild touches them: they
attest what the chain was, which is the point. Verifiers trust them for their signature, not for
being here; the copies in NATS are out of reach of whoever can change the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from eventsourcing.postgres import PostgresDatastore

from domain.audit_chain import checkpoint_message
from domain.audit_keys import SigningKey, VerifyKey
from projections.audit_chain import LIVE
from projections.sql import lock_schema

CHECKPOINTS = "audit_checkpoints"
KEYS = "audit_keys"
_created: set[int] = set()  # datastores (by id) whose tables this process has made sure of


class Checkpoint(msgspec.Struct, frozen=True):
    tenant: str
    notification_id: int
    hash: str  # the chain head, hex
    at: str  # when it was signed, ISO 8601 as signed
    signature: str  # base64 Ed25519 over domain.audit_chain.checkpoint_message
    key_id: str

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.tenant, self.notification_id, self.hash, self.at)


class PublicKey(msgspec.Struct, frozen=True):
    key_id: str
    public_key: str  # PEM


def ensure_checkpoint_tables(datastore: PostgresDatastore) -> None:
    if id(datastore) in _created:
        return
    with datastore.transaction(commit=True) as curs:
        lock_schema(curs)
        curs.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (tenant text NOT NULL, notification_id bigint NOT NULL, hash text NOT NULL, "
            "at text NOT NULL, signature text NOT NULL, key_id text NOT NULL, published boolean NOT NULL DEFAULT false, "
            "PRIMARY KEY (tenant, notification_id))"
        )
        curs.execute(
            f"CREATE TABLE IF NOT EXISTS {KEYS} (key_id text PRIMARY KEY, public_key text NOT NULL, "
            "first_used timestamptz NOT NULL DEFAULT now())"
        )
    _created.add(id(datastore))


def register_key(datastore: PostgresDatastore, key: VerifyKey) -> None:
    """Records the public key that signs from now on: what GET /audit/public-key answers."""
    ensure_checkpoint_tables(datastore)
    with datastore.transaction(commit=True) as curs:
        curs.execute(
            f"INSERT INTO {KEYS} (key_id, public_key) VALUES (%s, %s) ON CONFLICT (key_id) DO NOTHING",
            (key.key_id, key.pem),
        )


def public_keys(datastore: PostgresDatastore) -> list[PublicKey]:
    """Every key that signed, the latest first."""
    ensure_checkpoint_tables(datastore)
    with datastore.transaction(commit=False) as curs:
        rows = curs.execute(f"SELECT key_id, public_key FROM {KEYS} ORDER BY first_used DESC, key_id").fetchall()
    return [PublicKey(**row) for row in rows]


def sign_heads(datastore: PostgresDatastore, key: SigningKey, tenant: str | None = None, now: datetime | None = None) -> list[Checkpoint]:
    """Signs and records the head of every chain (or the tenant's) that moved since its last
    checkpoint; returns what it signed. One transaction: two signers at once record each head once."""
    ensure_checkpoint_tables(datastore)
    at = (now or datetime.now(UTC)).isoformat()
    heads = LIVE.heads.name
    query = (
        f"SELECT h.tenant, h.notification_id, h.hash FROM {heads} h WHERE (%(tenant)s::text IS NULL OR h.tenant = %(tenant)s) "
        f"AND NOT EXISTS (SELECT 1 FROM {CHECKPOINTS} c WHERE c.tenant = h.tenant AND c.notification_id >= h.notification_id) "
        "ORDER BY h.tenant"
    )
    signed = []
    with datastore.transaction(commit=True) as curs:
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('docket.audit.checkpoints'))")
        for row in curs.execute(query, {"tenant": tenant}).fetchall():
            head = bytes(row["hash"]).hex()
            message = checkpoint_message(row["tenant"], row["notification_id"], head, at)
            signed.append(Checkpoint(row["tenant"], row["notification_id"], head, at, key.sign(message), key.key_id))
        for c in signed:
            curs.execute(
                f"INSERT INTO {CHECKPOINTS} (tenant, notification_id, hash, at, signature, key_id) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (c.tenant, c.notification_id, c.hash, c.at, c.signature, c.key_id),
            )
    return signed


def unpublished(datastore: PostgresDatastore, limit: int = 1000) -> list[Checkpoint]:
    ensure_checkpoint_tables(datastore)
    with datastore.transaction(commit=False) as curs:
        rows = curs.execute(
            f"SELECT {_COLUMNS} FROM {CHECKPOINTS} WHERE NOT published ORDER BY tenant, notification_id LIMIT %s", (limit,)
        ).fetchall()
    return [Checkpoint(**row) for row in rows]


def mark_published(datastore: PostgresDatastore, checkpoints: list[Checkpoint]) -> None:
    if not checkpoints:
        return
    with datastore.transaction(commit=True) as curs:
        curs.executemany(
            f"UPDATE {CHECKPOINTS} SET published = true WHERE tenant = %s AND notification_id = %s",
            [(c.tenant, c.notification_id) for c in checkpoints],
        )


def recorded_checkpoints(
    datastore: PostgresDatastore, tenant: str | None = None, first: int = 0, last: int | None = None
) -> list[Checkpoint]:
    """The checkpoints recorded here, of one tenant or all, within notification ids [first, last]."""
    ensure_checkpoint_tables(datastore)
    params: dict[str, Any] = {"tenant": tenant, "first": first, "last": last}
    with datastore.transaction(commit=False) as curs:
        rows = curs.execute(
            f"SELECT {_COLUMNS} FROM {CHECKPOINTS} WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s) "
            "AND notification_id >= %(first)s AND (%(last)s::bigint IS NULL OR notification_id <= %(last)s) "
            "ORDER BY tenant, notification_id",
            params,
        ).fetchall()
    return [Checkpoint(**row) for row in rows]


_COLUMNS = "tenant, notification_id, hash, at, signature, key_id"
