"""The audit chain: each tenant's events, hashed in order as they are stored (encrypted).

    hash_n = SHA-256(hash_{n-1} || notification_id || aggregate_id || version || topic || SHA-256(state))

with the notification id and the version as 8-byte big-endian integers, the aggregate id as its
16 bytes, the topic in UTF-8 and `state` the bytes exactly as the event store holds them. Every
field but the topic has a fixed length and the topic comes last but one, so no two different
events give the same input. hash_0 of a tenant is SHA-256 of a fixed prefix and the tenant's name:
one tenant's chain can never pass for another's.

The chain is over stored bytes, so anyone can check it without the cipher key, and erasing a
ticket by deleting its key (its events then cannot be read) leaves the chain whole. Checkpoints
sign a tenant's head; an export signs its whole file. What each signs is defined here, once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

GENESIS_PREFIX = b"docket-audit-chain/1\n"
CHECKPOINT_PREFIX = b"docket-audit-checkpoint/1\n"
EXPORT_PREFIX = b"docket-audit-export/1\n"
HASH_SIZE = 32

_sha256 = hashlib.sha256


def genesis(tenant: str) -> bytes:
    """hash_0 of the tenant's chain."""
    return _sha256(GENESIS_PREFIX + tenant.encode()).digest()


def state_digest(state: bytes) -> bytes:
    return _sha256(state).digest()


def link(previous: bytes, notification_id: int, aggregate_id: bytes, version: int, topic: bytes, digest: bytes) -> bytes:
    """The next hash of a chain: `aggregate_id` as its 16 bytes, `topic` as UTF-8, `digest` the
    SHA-256 of the stored state. Bytes in, bytes out: verifying millions of events is this call."""
    return _sha256(
        b"".join((previous, notification_id.to_bytes(8, "big"), aggregate_id, version.to_bytes(8, "big", signed=True), topic, digest))
    ).digest()


def link_joined(previous: bytes, middle: bytes, digest: bytes) -> bytes:
    """link() with the notification id, aggregate id, version and topic already joined as link
    joins them (a verifier has PostgreSQL join them as it reads)."""
    return _sha256(previous + middle + digest).digest()


def checkpoint_message(tenant: str, notification_id: int, head: str, at: datetime | str) -> bytes:
    """What a checkpoint's signature covers: the tenant, where its chain stood, its head (hex) and
    when it was signed, so that no checkpoint can be replayed for another tenant or position."""
    moment = at if isinstance(at, str) else at.isoformat()
    return CHECKPOINT_PREFIX + "\n".join((tenant, str(notification_id), head, moment)).encode()


def export_message(digest: bytes) -> bytes:
    """What an export's last line signs: the SHA-256 of every byte before that line."""
    return EXPORT_PREFIX + digest
