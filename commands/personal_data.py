"""The reporter's personal data in the event store, under a key of each ticket's own.

The events are the audit trail and are never rewritten; erasing a person must still be possible
(POPIA, the GDPR). So a ticket's personal fields (the reporter's name, phone and email, the
address and the location) are stored encrypted with the ticket's own key, itself kept wrapped by
the cipher key in `ticket_keys`. Erasure deletes the key: from then on the event store, every read
model, a rebuild and an export read those fields as "[erased]", while the events, their order and
their stored bytes (and so the audit chain) stay as they were.

Keys are cached for KEY_TTL seconds, so every process stops reading an erased ticket's personal
data within that time (the process that erased it, at once).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic

from commands.recent_events import RecentEvents
from domain.ticket import ERASED, PERSONAL_FIELDS, Ticket

PREFIX = "pii:v1:"
TABLE = "ticket_keys"
KEY_TTL = 10.0
SWEEP_AT_LEAST = 10_000  # keys held before those past KEY_TTL are first dropped
PERSONAL_TOPICS = frozenset(get_topic(kind) for kind in (Ticket.Opened, Ticket.Edited))  # the events that may hold them


class TicketKeys:
    """Tickets' keys, each held in memory for `ttl` seconds from its reading or making. Those past
    it are dropped once the keys held have doubled since the last sweep: a use would read them
    afresh anyway, and kept, every ticket a process ever opened or read would stay in its memory
    (and in every full garbage collection's walk)."""

    def __init__(
        self, datastore: Callable[[], PostgresDatastore], cipher_key: str, *, ttl: float = KEY_TTL, sweep_at_least: int = SWEEP_AT_LEAST
    ) -> None:
        self._datastore = datastore
        self._ttl = ttl
        self._sweep_at = self._sweep_at_least = sweep_at_least
        wrapping = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"docket ticket keys").derive(base64.b64decode(cipher_key))
        self._wrap = AESGCM(wrapping)
        self._cache: dict[UUID, tuple[AESGCM | None, float]] = {}
        self._lock = threading.Lock()
        self._table_made = False

    def fresh(self, ticket_ids: list[UUID]) -> tuple[str, tuple[list[UUID], list[bytes]]]:
        """Keys for tickets opening in a save, kept here at once (their events are mapped with
        them next), and the statement that stores them: run in the events' own transaction, it
        costs no round trip and no commit of its own, and the keys are stored exactly when the
        events that need them are. A key already stored for one of them fails the save."""
        self._ensure_table()
        fresh, wrapped = self._new_keys(ticket_ids)
        self._keep((ticket_id, AESGCM(key)) for ticket_id, key in fresh.items())
        return f"INSERT INTO {TABLE} (ticket_id, wrapped) SELECT * FROM unnest(%s::uuid[], %s::bytea[])", (list(fresh), wrapped)

    def make(self, ticket_ids: list[UUID]) -> None:
        """Keys for tickets that have none yet, in a transaction of their own. (Committed without
        waiting for the disk: the events that need the keys commit after, and their flush writes
        everything before them in the log, these keys too.)"""
        fresh, wrapped = self._new_keys(ticket_ids)
        with self._transaction() as curs:
            curs.execute("SET LOCAL synchronous_commit = off")
            curs.execute(
                f"INSERT INTO {TABLE} (ticket_id, wrapped) SELECT * FROM unnest(%s::uuid[], %s::bytea[]) "
                "ON CONFLICT DO NOTHING RETURNING ticket_id",
                (list(fresh), wrapped),
            )
            kept = {row["ticket_id"] for row in curs.fetchall()}
        self._keep((ticket_id, AESGCM(key)) for ticket_id, key in fresh.items() if ticket_id in kept)
        self.forget(*(ticket_id for ticket_id in fresh if ticket_id not in kept))  # another process made its key first: read that one

    def for_sealing(self, ticket_id: UUID) -> AESGCM:
        """The ticket's key, made now if it has none yet."""
        key = self.for_opening(ticket_id)
        if key is None:
            self.make([ticket_id])
            key = self.for_opening(ticket_id)
        assert key is not None
        return key

    def load(self, ticket_ids: set[UUID]) -> None:
        """Reads the keys of these tickets in one query (those with none are remembered as such):
        a batch of events, mapped one after another, then asks the database nothing per ticket."""
        now = time.monotonic()
        with self._lock:
            wanted = [t for t in ticket_ids if t not in self._cache or now - self._cache[t][1] >= self._ttl]
        if not wanted:
            return
        with self._transaction() as curs:
            curs.execute(f"SELECT ticket_id, wrapped FROM {TABLE} WHERE ticket_id = ANY(%s)", (wanted,))
            found = {row["ticket_id"]: AESGCM(self._unwrap(row["ticket_id"], bytes(row["wrapped"]))) for row in curs.fetchall()}
        self._keep(((ticket_id, found.get(ticket_id)) for ticket_id in wanted), now)

    def for_opening(self, ticket_id: UUID) -> AESGCM | None:
        """The ticket's key; None when it has none (never had personal data, or it was erased)."""
        with self._lock:
            cached = self._cache.get(ticket_id)
        if cached is not None and time.monotonic() - cached[1] < self._ttl:
            return cached[0]
        with self._transaction() as curs:
            curs.execute(f"SELECT wrapped FROM {TABLE} WHERE ticket_id = %s", (ticket_id,))
            row = curs.fetchone()
        key = AESGCM(self._unwrap(ticket_id, bytes(row["wrapped"]))) if row else None
        self._keep([(ticket_id, key)])
        return key

    def __len__(self) -> int:
        """How many keys (or the knowledge that a ticket has none) are held in memory."""
        return len(self._cache)

    def _keep(self, keys: Iterable[tuple[UUID, AESGCM | None]], read_at: float | None = None) -> None:
        """Holds these keys (None: the ticket has none) as read or made at `read_at` (default: now),
        and drops those past their time once the cache has doubled since the last sweep."""
        now = time.monotonic()
        with self._lock:
            self._cache.update((ticket_id, (key, now if read_at is None else read_at)) for ticket_id, key in keys)
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        if len(self._cache) >= self._sweep_at:
            self._cache = {ticket_id: entry for ticket_id, entry in self._cache.items() if now - entry[1] < self._ttl}
            self._sweep_at = max(self._sweep_at_least, 2 * len(self._cache))

    def erase(self, ticket_id: UUID) -> None:
        with self._transaction() as curs:
            curs.execute(f"DELETE FROM {TABLE} WHERE ticket_id = %s", (ticket_id,))
        self.forget(ticket_id)

    def forget(self, *ticket_ids: UUID) -> None:
        with self._lock:
            for ticket_id in ticket_ids:
                self._cache.pop(ticket_id, None)

    def _new_keys(self, ticket_ids: list[UUID]) -> tuple[dict[UUID, bytes], list[bytes]]:
        """A new key for each ticket, and each wrapped as it is stored."""
        fresh = {ticket_id: AESGCM.generate_key(bit_length=256) for ticket_id in ticket_ids}
        return fresh, [self._wrapped(ticket_id, key) for ticket_id, key in fresh.items()]

    def _wrapped(self, ticket_id: UUID, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._wrap.encrypt(nonce, key, ticket_id.bytes)

    def _unwrap(self, ticket_id: UUID, wrapped: bytes) -> bytes:
        return self._wrap.decrypt(wrapped[:12], wrapped[12:], ticket_id.bytes)

    def _transaction(self) -> Any:
        self._ensure_table()
        return self._datastore().transaction(commit=True)

    def _ensure_table(self) -> None:
        if not self._table_made:
            with self._datastore().transaction(commit=True) as curs:
                curs.execute("SELECT pg_advisory_xact_lock(hashtext('docket.schema'))")
                curs.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (ticket_id uuid PRIMARY KEY, wrapped bytea NOT NULL)")
            self._table_made = True


class PersonalDataMapper(Mapper):
    """Seals a ticket event's personal fields with the ticket's key on the way in, and opens them
    on the way out: "[erased]" once the key is gone. Events stored before hold them in the clear."""

    keys: TicketKeys
    recent: RecentEvents

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, Ticket.Event) and _personal(domain_event):
            domain_event = _with_personal(domain_event, self._sealer(domain_event.originator_id))
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        # With the topic: a snapshot has its aggregate's id and the version of the event it follows.
        key = (stored_event.originator_id, stored_event.originator_version, stored_event.topic)
        domain_event = self.recent.get(key, lambda: super(PersonalDataMapper, self).to_domain_event(stored_event))
        if isinstance(domain_event, Ticket.Event) and _personal(domain_event):
            domain_event = _with_personal(domain_event, self._opener(domain_event.originator_id))
        return domain_event

    def _sealer(self, ticket_id: UUID) -> Callable[[Any], Any]:
        key = self.keys.for_sealing(ticket_id)

        def seal(value: Any) -> Any:
            if value is None:
                return None
            nonce = os.urandom(12)
            return PREFIX + base64.b64encode(nonce + key.encrypt(nonce, json.dumps(value).encode(), ticket_id.bytes)).decode()

        return seal

    def _opener(self, ticket_id: UUID) -> Callable[[Any], Any]:
        def open_(value: Any) -> Any:
            if not isinstance(value, str) or not value.startswith(PREFIX):
                return value  # stored in the clear, before personal data had keys
            key = self.keys.for_opening(ticket_id)
            if key is None:
                return ERASED
            raw = base64.b64decode(value.removeprefix(PREFIX))
            try:
                return json.loads(key.decrypt(raw[:12], raw[12:], ticket_id.bytes))
            except (InvalidTag, ValueError):
                return value  # not sealed by Docket: a reporter's own words that look like it

        return open_


def _personal(domain_event: Any) -> bool:
    return isinstance(domain_event, Ticket.Opened) or (
        isinstance(domain_event, Ticket.Edited) and any(name in PERSONAL_FIELDS for name in domain_event.changes)
    )


def _with_personal(domain_event: Any, change: Callable[[Any], Any]) -> Any:
    """A copy of the event with each personal value changed (events are frozen)."""
    copy = object.__new__(type(domain_event))
    copy.__dict__.update(domain_event.__dict__)
    if isinstance(domain_event, Ticket.Opened):
        for name in PERSONAL_FIELDS:
            copy.__dict__[name] = change(domain_event.__dict__[name])
    else:
        changes = dict(domain_event.changes)
        for name in PERSONAL_FIELDS & changes.keys():
            changes[name] = {"old": change(changes[name]["old"]), "new": change(changes[name]["new"])}
        copy.__dict__["changes"] = changes
    return copy
