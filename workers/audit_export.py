"""`docket audit export`: one tenant's events as NDJSON that anyone can verify with the public key.

The file, one JSON object a line, each with its `kind`:

- `header`: the tenant, when, whether events are as stored or decrypted, the time range asked for,
  and `previous_hash`, the chain hash just before the first event (the tenant's hash_0 when the file
  starts at its first event);
- `checkpoint`: each signed checkpoint that falls within the file's events, before them, so that a
  verifier knows where to compare as it goes;
- `event`: every event of the tenant's chain from the first to the last one in range, none left
  out: its notification id, aggregate, version, topic, the SHA-256 of its stored bytes and its
  chain hash; then either `state`, the stored bytes in base64 (`--stored`), or the event decrypted
  (`event`, `at`, `actor`, `role`, `fields`, redacted fields kept redacted);
- `signature`, last: the audit key's signature over the SHA-256 of every byte before that line. A
  changed decrypted field is caught by it as surely as a changed hash is by the chain.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Annotated, Any
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row

from commands.config_cache import conninfo
from domain.audit_chain import export_message, genesis
from domain.audit_keys import SigningKey
from projections.audit_chain import LIVE
from projections.audit_checkpoints import recorded_checkpoints, register_key
from projections.audit_log import audit_event, tenant_rows

FORMAT = "docket-audit-export/1"
BATCH = 5000
Hex64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Version = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Progress = Callable[[int], None]


class Line(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True, frozen=True):
    pass


class Header(Line, tag="header", frozen=True):
    format: str
    tenant: str
    exported_at: str
    stored: bool
    previous_hash: Hex64
    key_id: str
    since: str | None = msgspec.field(default=None, name="from")
    until: str | None = msgspec.field(default=None, name="to")


class CheckpointLine(Line, tag="checkpoint", frozen=True):
    tenant: str
    notification_id: Id
    hash: Hex64
    at: str
    signature: str
    key_id: str


class EventLine(Line, tag="event", frozen=True):
    notification_id: Id
    aggregate_id: UUID
    aggregate_type: str
    version: Version
    topic: str
    state_sha256: Hex64
    hash: Hex64
    state: str | None = None  # base64 of the stored bytes, in a --stored export
    event: str | None = None
    at: datetime | None = None
    actor: str | None = None
    role: str | None = None
    fields: dict[str, Any] | None = None
    readable: bool | None = None


class SignatureLine(Line, tag="signature", frozen=True):
    key_id: str
    sha256: Hex64  # of every byte before this line
    signature: str


class Summary(msgspec.Struct, frozen=True):
    events: int
    checkpoints: int
    first: int | None
    last: int | None
    seconds: float


def _unknown(value: Any) -> Any:
    """What JSON cannot say natively in an event's fields (a set, a Decimal): said as text."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


_encode = msgspec.json.Encoder(enc_hook=_unknown).encode


class _Signed:
    """Writes lines and keeps the SHA-256 of every byte written."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.digest = out, hashlib.sha256()

    def write(self, line: Line) -> None:
        data = _encode(line) + b"\n"
        self.digest.update(data)
        self.out.write(data)


def export_range(app: Application, tenant: str, since: datetime | None, until: datetime | None) -> tuple[int, int, int] | None:
    """The first and last notification ids of the tenant's events in the time range, and how many
    events lie between (all exported: the chain has no gaps); None when there are none."""
    chain = LIVE.chain.name
    with psycopg.connect(conninfo(app)) as conn:
        first = conn.execute(
            f"SELECT min(notification_id) FROM {chain} WHERE tenant = %s AND (%s::timestamptz IS NULL OR at >= %s)", (tenant, since, since)
        ).fetchone()[0]
        last = conn.execute(
            f"SELECT max(notification_id) FROM {chain} WHERE tenant = %s AND (%s::timestamptz IS NULL OR at <= %s)", (tenant, until, until)
        ).fetchone()[0]
        if first is None or last is None or first > last:
            return None
        count = conn.execute(f"SELECT count(*) FROM {chain} WHERE tenant = %s AND notification_id BETWEEN %s AND %s", (tenant, first, last))
        return first, last, count.fetchone()[0]


def export(
    app: Application,
    tenant: str,
    out: IO[bytes],
    key: SigningKey,
    *,
    stored: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Progress = lambda n: None,
) -> Summary:
    import time

    began = time.perf_counter()
    register_key(app.recorder.datastore, key.verify_key)
    found = export_range(app, tenant, since, until)
    first, last = (found[0], found[1]) if found else (None, None)
    writer = _Signed(out)
    with psycopg.connect(conninfo(app), row_factory=dict_row) as conn:
        previous = _previous_hash(conn, tenant, first) if first is not None else genesis(tenant)
        writer.write(
            Header(
                format=FORMAT,
                tenant=tenant,
                exported_at=datetime.now(UTC).isoformat(),
                stored=stored,
                previous_hash=previous.hex(),
                key_id=key.key_id,
                since=since.isoformat() if since else None,
                until=until.isoformat() if until else None,
            )
        )
        checkpoints = recorded_checkpoints(app.recorder.datastore, tenant, first, last) if first is not None else []
        for c in checkpoints:
            writer.write(CheckpointLine(c.tenant, c.notification_id, c.hash, c.at, c.signature, c.key_id))
        events = 0
        if first is not None and last is not None:
            for batch in tenant_rows(app.recorder.datastore, tenant, after=first - 1, last=last):
                for row in batch:
                    writer.write(_event_line(app, row, stored))
                events += len(batch)
                progress(len(batch))
    digest = writer.digest.digest()
    writer.write(SignatureLine(key_id=key.key_id, sha256=digest.hex(), signature=key.sign(export_message(digest))))
    out.flush()
    return Summary(events, len(checkpoints), first, last, time.perf_counter() - began)


def _previous_hash(conn: psycopg.Connection, tenant: str, first: int) -> bytes:
    row = conn.execute(
        f"SELECT hash FROM {LIVE.chain.name} WHERE tenant = %s AND notification_id < %s ORDER BY notification_id DESC LIMIT 1",
        (tenant, first),
    ).fetchone()
    return bytes(row["hash"]) if row else genesis(tenant)


def _event_line(app: Application, row: dict[str, Any], stored: bool) -> EventLine:
    state = bytes(row["state"])
    common = {
        "notification_id": row["notification_id"],
        "aggregate_id": row["originator_id"],
        "aggregate_type": row["aggregate_type"],
        "version": row["originator_version"],
        "topic": row["topic"],
        "state_sha256": hashlib.sha256(state).hexdigest(),
        "hash": bytes(row["hash"]).hex(),
    }
    if stored:
        return EventLine(**common, state=base64.b64encode(state).decode())
    shown = audit_event(app, row)
    return EventLine(
        **common, event=shown.event, at=shown.at, actor=shown.actor, role=shown.role, fields=shown.fields, readable=shown.readable
    )
