"""`docket audit verify`: recomputes every tenant's audit chain from the event store, as stored.

It reads the stored bytes in large windows of notification ids (the next window is fetched while
this one is hashed), never decrypts, and checks each event against the hash the chain recorded for
it, and each tenant's chain against its signed checkpoints (which it first checks were signed by
the audit key). What it finds, it reports by notification id: an event altered (its bytes no
longer give its hash), deleted (the chain has it, the store does not), inserted (the store has it,
the chain never saw it), moved (an altered event at each of the two places), or a chain table
rewritten to match (a signed checkpoint that no longer matches, or that names an event gone).
After a mismatch it goes on from the recorded hash, so one change is reported once.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

import psycopg

from domain.audit_chain import genesis, link_joined
from domain.audit_keys import VerifyKey
from projections.audit_chain import EVENTS_TABLE, LIVE
from projections.audit_checkpoints import Checkpoint

WINDOW = 20_000  # notification ids per read
READERS = 2  # windows read ahead at once, each on its own connection
SHOWN = 10  # problems printed beyond the first
sha256 = hashlib.sha256
Progress = Callable[[int], None]

# A window of the chain, each row with its event's stored row beside it (none when the store lacks
# it), in the chain's order: a merge join of two index ranges, no sort. PostgreSQL joins the fixed
# fields of the hash's input as domain.audit_chain.link does; the stored bytes are hashed here.
# Then the window's events the chain has no row for: an anti-join of the same two ranges.
_MIDDLE = "int8send(e.notification_id) || uuid_send(e.originator_id) || int8send(e.originator_version) || convert_to(e.topic, 'UTF8')"
_RANGE = "{0}.notification_id > %(low)s AND {0}.notification_id <= %(high)s"
_CHAINED = (
    f"SELECT c.notification_id, c.tenant, c.hash, {_MIDDLE}, e.state FROM {LIVE.chain.name} c "
    f"LEFT JOIN {EVENTS_TABLE} e ON e.notification_id = c.notification_id AND {_RANGE.format('e')} "
    f"WHERE {_RANGE.format('c')} AND (%(tenant)s::text IS NULL OR c.tenant = %(tenant)s) ORDER BY c.notification_id"
)
_UNCHAINED = (
    f"SELECT e.notification_id FROM {EVENTS_TABLE} e WHERE {_RANGE.format('e')} "
    f"AND NOT EXISTS (SELECT 1 FROM {LIVE.chain.name} c WHERE c.notification_id = e.notification_id AND {_RANGE.format('c')}) "
    "ORDER BY e.notification_id"
)


@dataclass
class Report:
    events: int = 0
    tenants: set[str] = field(default_factory=set)
    checkpoints: int = 0  # checked against the chain
    problems: list[tuple[int, str]] = field(default_factory=list)  # (notification id, what differs)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def intact(self) -> bool:
        return not self.problems

    def problem(self, notification_id: int, text: str) -> None:
        self.problems.append((notification_id, text))

    @property
    def first_bad(self) -> int | None:
        """The first notification id found wrong; None when intact or only the file as a whole is."""
        ids = [n for n, _ in self.problems if n]
        return min(ids) if ids else None

    def lines(self) -> list[str]:
        rate = self.events / self.seconds if self.seconds else 0.0
        summary = f"{self.events} events of {len(self.tenants)} tenants, {self.checkpoints} checkpoints, in {self.seconds:.2f}s ({rate:,.0f} events/s)"
        lines = [*self.notes]
        if self.intact:
            return [*lines, f"intact: {summary}"]
        ordered = sorted(self.problems, key=lambda p: (p[0] == 0, p[0]))  # 0: not about one event
        first, text = ordered[0]
        lines.append(f"NOT INTACT: first bad notification id {first}: {text}" if first else f"NOT INTACT: {text}")
        lines += [f"  also notification {n}: {t}" if n else f"  also: {t}" for n, t in ordered[1 : 1 + SHOWN]]
        if len(ordered) > 1 + SHOWN:
            lines.append(f"  and {len(ordered) - 1 - SHOWN} more problems")
        return [*lines, f"checked {summary}"]


def trusted_checkpoints(found: list[Checkpoint | str], key: VerifyKey, report: Report) -> list[Checkpoint]:
    """The checkpoints signed by the audit key; each other one is a problem, named by its position."""
    trusted = []
    for checkpoint in found:
        if isinstance(checkpoint, str):
            report.problem(0, checkpoint)
        elif checkpoint.key_id != key.key_id:
            report.problem(
                checkpoint.notification_id,
                f"checkpoint of {checkpoint.tenant} names key {checkpoint.key_id}, not the audit key {key.key_id}",
            )
        elif not key.verifies(checkpoint.message, checkpoint.signature):
            report.problem(
                checkpoint.notification_id,
                f"checkpoint of {checkpoint.tenant} signed at {checkpoint.at} has a signature the audit key did not make",
            )
        else:
            trusted.append(checkpoint)
    return trusted


def verify_store(
    conninfo: str,
    checkpoints: list[Checkpoint],
    tenant: str | None = None,
    progress: Progress = lambda n: None,
    window: int = WINDOW,
    report: Report | None = None,
) -> Report:
    """Recomputes the chains (or the tenant's) up to the chain's position against the event store,
    the recorded hashes and these checkpoints (already checked for their signatures), adding what
    it finds to `report`."""
    report = report or Report()
    began = time.perf_counter()
    expected: dict[str, dict[int, Checkpoint]] = {}
    for c in checkpoints:
        if tenant is None or c.tenant == tenant:
            expected.setdefault(c.tenant, {})[c.notification_id] = c
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # the position and the heads of one moment
        position, heads, unchained = _positions(conn, tenant)
    if unchained:
        report.notes.append(
            f"{unchained} events after notification {position} are not chained yet (the projector chains them as they commit)"
        )
    previous: dict[str, bytes] = {}
    for rows, strays in _windows(conninfo, position, tenant, window):
        _check_window(rows, strays, previous, expected, report)
        progress(len(rows))
    report.tenants |= previous.keys()
    _check_ends(previous, heads, expected, tenant, report)
    report.seconds = time.perf_counter() - began
    return report


def _check_window(rows: list, strays: list, previous: dict[str, bytes], expected: dict[str, dict[int, Checkpoint]], report: Report) -> None:
    """One window's rows, in notification order. The loop is the whole cost of a verify: it does
    two SHA-256 and a few lookups per event, and nothing else when all is well."""
    checkpointed = {n for marks in expected.values() for n in marks}
    for notification_id, tenant, recorded, middle, state in rows:
        before = previous.get(tenant) or genesis(tenant)
        if middle is None:
            report.problem(notification_id, f"the event ({tenant}) is missing from the event store: deleted, or moved elsewhere")
            previous[tenant] = recorded
            continue
        computed = link_joined(before, middle, sha256(state).digest())
        if computed != recorded:
            report.problem(notification_id, f"the stored event ({tenant}) does not give its chain hash: altered, or moved here")
            computed = recorded
        previous[tenant] = computed
        if notification_id in checkpointed:
            _check_checkpoint(expected, tenant, notification_id, computed, report)
    for (notification_id,) in strays:
        report.problem(notification_id, "an event the chain never saw: inserted after the fact, or its chain row was deleted")
    report.events += len(rows)


def _check_checkpoint(
    expected: dict[str, dict[int, Checkpoint]], tenant: str, notification_id: int, computed: bytes, report: Report
) -> None:
    checkpoint = expected.get(tenant, {}).pop(notification_id, None)
    if checkpoint is None:
        return
    report.checkpoints += 1
    if checkpoint.hash != computed.hex():
        report.problem(
            notification_id, f"the chain of {tenant} no longer matches its checkpoint signed at {checkpoint.at}: rewritten up to here"
        )


def _check_ends(
    previous: dict[str, bytes],
    heads: dict[str, tuple[int, bytes]],
    expected: dict[str, dict[int, Checkpoint]],
    tenant: str | None,
    report: Report,
) -> None:
    for name, left in expected.items():
        for notification_id, checkpoint in left.items():
            report.problem(
                notification_id, f"the checkpoint of {name} signed at {checkpoint.at} names an event no longer in the chain: events removed"
            )
    for name, (notification_id, head) in heads.items():
        if previous.get(name) != head:
            report.problem(notification_id, f"the recorded head of {name} is not where its chain ends")
    for name in previous.keys() - heads.keys():
        report.problem(0, f"{name} has a chain but no recorded head")


def _positions(conn: psycopg.Connection, tenant: str | None) -> tuple[int, dict[str, tuple[int, bytes]], int]:
    """Where the chain stands, each tenant's recorded head, and how many events are not chained yet."""
    position = conn.execute("SELECT coalesce(max(notification_id), 0) FROM audit_chain_tracking").fetchone()[0]
    heads = {
        name: (nid, bytes(h))
        for name, nid, h in conn.execute(
            f"SELECT tenant, notification_id, hash FROM {LIVE.heads.name} WHERE %(t)s::text IS NULL OR tenant = %(t)s", {"t": tenant}
        )
    }
    unchained = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE notification_id > %s", (position,)).fetchone()[0]
    return position, heads, unchained


def _windows(conninfo: str, position: int, tenant: str | None, window: int) -> Iterator[tuple[list, list]]:
    """The chain's rows with their stored rows, and the events the chain lacks (the whole store's
    verify only: a tenant's cannot be told apart), window by window up to position. READERS windows
    are read ahead, each on its own connection, while the caller hashes the one before them."""
    bounds = [(low, min(low + window, position)) for low in range(0, position, window)]
    with ExitStack() as stack:
        connections = [stack.enter_context(psycopg.connect(conninfo)) for _ in range(min(READERS, len(bounds)) or 1)]
        reader = stack.enter_context(ThreadPoolExecutor(len(connections)))

        def read(i: int) -> tuple[list, list]:
            conn = connections[i % len(connections)]  # the read before on it was taken before this one was asked
            params = {"low": bounds[i][0], "high": bounds[i][1], "tenant": tenant}
            with conn.cursor(binary=True) as curs:
                rows = curs.execute(_CHAINED, params).fetchall()
                strays = curs.execute(_UNCHAINED, params).fetchall() if tenant is None else []
            conn.rollback()
            return rows, strays

        ahead = deque(reader.submit(read, i) for i in range(min(len(connections), len(bounds))))
        for i in range(len(bounds)):
            found = ahead.popleft().result()
            if i + len(connections) < len(bounds):
                ahead.append(reader.submit(read, i + len(connections)))
            yield found
