"""The audit trail: a tenant's events read from the event store itself, in global order.

The event store holds events encrypted and knows nothing of tenants; the `audit_chain` projection
says, per notification id, whose event it is and its chain hash, and per aggregate whether it is
sensitive and which fields were redacted. A page joins the three on indexed keys and decrypts only
what it returns, so paging through millions of events keeps to one page in memory. An event that
cannot be decrypted (altered, or erased with its key) is listed as unreadable, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from domain.audit_access import AuditScope, ensure_in_audit_scope, redacted
from domain.errors import Invalid
from projections.audit_chain import EVENTS_TABLE, LIVE, aggregate_type, event_type

MAX_LIMIT = 1000  # events in one JSON page
STREAM_BATCH = 500  # events read at a time while streaming
MAX_TYPES = 100
TYPE_NAME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]{0,99}\.)?[A-Za-z][A-Za-z0-9_]{0,99}$")
# The envelope every Docket event carries, shown as the item's own keys rather than among its fields.
ENVELOPE = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp", "actor_id", "actor_role", "tenant"})


class AuditEvent(msgspec.Struct, frozen=True):
    notification_id: int
    aggregate_id: UUID
    aggregate_type: str
    version: int
    event: str
    at: datetime
    actor: str | None
    role: str | None
    fields: dict[str, Any]
    hash: str  # the chain hash after this event, hex
    readable: bool = True  # False: the stored bytes could not be decrypted (altered, or the key erased)


class AuditPage(msgspec.Struct, frozen=True):
    items: list[AuditEvent]
    next_after: int  # pass as `after` for the next page; the same `after` when nothing followed


class AuditFilters(msgspec.Struct, frozen=True):
    types: list[str] = []  # event names (`StatusChanged`) or aggregate and name (`Team.TeamCreated`)
    aggregate_id: UUID | None = None
    since: datetime | None = None  # the event's time, inclusive
    until: datetime | None = None  # inclusive


def check_filters(filters: AuditFilters, after: int, limit: int, max_limit: int) -> None:
    if after < 0:
        raise Invalid("after is a notification id: 0 or more.", code="invalid_input", field="after")
    if not 1 <= limit <= max_limit:
        raise Invalid(f"limit is from 1 to {max_limit}.", code="invalid_input", field="limit")
    if len(filters.types) > MAX_TYPES:
        raise Invalid(f"type may be given at most {MAX_TYPES} times.", code="invalid_input", field="type")
    for name in filters.types:
        if not TYPE_NAME.match(name):
            raise Invalid(
                f"type '{name[:100]}' is not an event name such as StatusChanged or Team.TeamCreated.", code="invalid_input", field="type"
            )
    for field, moment in (("from", filters.since), ("to", filters.until)):
        if moment is not None and moment.tzinfo is None:
            raise Invalid(f"{field} must name its time zone (2026-01-31T09:00:00Z).", code="invalid_input", field=field)
    if filters.since and filters.until and filters.since > filters.until:
        raise Invalid("The time range ends before it starts.", code="bad_range", field="from")


def audit_page(app: Application, scope: AuditScope, after: int, limit: int, filters: AuditFilters) -> AuditPage:
    check_filters(filters, after, limit, MAX_LIMIT)
    items = _read(app, scope, after, limit, filters)
    return AuditPage(items=items, next_after=items[-1].notification_id if items else after)


def audit_stream(app: Application, scope: AuditScope, after: int, limit: int, filters: AuditFilters) -> Iterator[list[AuditEvent]]:
    """Up to `limit` events in batches, each read when the previous one is used: constant memory
    however many are asked for. Call check_filters first: this generator starts only when read."""
    left = limit
    while left > 0:
        batch = _read(app, scope, after, min(left, STREAM_BATCH), filters)
        if not batch:
            return
        yield batch
        after, left = batch[-1].notification_id, left - len(batch)


def tenant_rows(
    datastore: PostgresDatastore,
    tenant: str,
    *,
    after: int = 0,
    last: int | None = None,
    until: datetime | None = None,
    topics: tuple[str, ...] = (),
    batch: int = 5000,
) -> Iterator[list[dict[str, Any]]]:
    """The tenant's chained events after `after` (up to `last`, of `until` or before, of these
    topics: every one when empty) in notification order, a batch at a time: each its chain row
    (notification_id, hash, at), its aggregate's (aggregate_type, redacted) and its stored row.

    Three plain queries a batch, joined here: the chain's rows of the tenant, then their events
    and aggregates by key. A join of the three in PostgreSQL walks the whole store in order when the
    tenant's events are a small share of it."""
    chain = SQL(
        "SELECT notification_id, hash, at, aggregate_id FROM {} WHERE tenant = %(tenant)s AND notification_id > %(after)s "
        "AND (%(last)s::bigint IS NULL OR notification_id <= %(last)s) AND (%(until)s::timestamptz IS NULL OR at <= %(until)s) "
        "ORDER BY notification_id LIMIT %(batch)s"
    ).format(Identifier(LIVE.chain.name))
    events = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} WHERE notification_id = ANY(%(ids)s) "
        "AND (cardinality(%(topics)s::text[]) = 0 OR topic = ANY(%(topics)s))"
    ).format(Identifier(EVENTS_TABLE))
    aggregates = SQL("SELECT aggregate_id, aggregate_type, redacted FROM {} WHERE aggregate_id = ANY(%(ids)s)").format(
        Identifier(LIVE.aggregates.name)
    )
    params: dict[str, Any] = {"tenant": tenant, "after": after, "last": last, "until": until, "batch": batch, "topics": list(topics)}
    while True:
        with datastore.transaction(commit=False) as curs:
            chained = curs.execute(chain, params).fetchall()
            if not chained:
                return
            with curs.connection.cursor(binary=True, row_factory=tuple_row) as plain:  # the bulk of the bytes: no text, no dicts
                plain.execute(events, {**params, "ids": [r["notification_id"] for r in chained]})
                stored = {n: {"originator_id": o, "originator_version": v, "topic": t, "state": state} for n, o, v, t, state in plain}
            kinds = {r["aggregate_id"]: r for r in curs.execute(aggregates, {"ids": list({r["aggregate_id"] for r in chained})})}
        rows = [
            {**row, **kinds[row["aggregate_id"]], **stored[row["notification_id"]]} for row in chained if row["notification_id"] in stored
        ]
        if rows:
            yield rows
        params["after"] = chained[-1]["notification_id"]


def tenant_events(
    app: Application, tenant: str, topics: tuple[str, ...], until: datetime | None = None, batch: int = 5000
) -> Iterator[list[tuple[Any, Tracking]]]:
    """The tenant's events of these topics (every topic when empty) up to `until` (their own time),
    decrypted, in notification order, a batch at a time. The chain's rows say which are the
    tenant's; events after the chain's position, not chained yet, are read and sorted here."""
    datastore = app.recorder.datastore
    with datastore.transaction(commit=False) as curs:
        tracking = Identifier(f"{LIVE.chain.name}_tracking")
        position = curs.execute(SQL("SELECT coalesce(max(notification_id), 0) AS n FROM {}").format(tracking)).fetchone()["n"]
    after = 0
    for rows in tenant_rows(datastore, tenant, last=position, until=until, topics=topics, batch=batch):
        yield [(_decoded(app, row), Tracking(app.name, row["notification_id"])) for row in rows]
        after = rows[-1]["notification_id"]
    after = max(position, after)
    while notifications := app.recorder.select_notifications(start=after + 1, limit=batch, topics=topics):
        decoded = [(app.mapper.to_domain_event(n), Tracking(app.name, n.id)) for n in notifications]
        yield [(e, t) for e, t in decoded if getattr(e, "tenant", None) == tenant and (until is None or e.timestamp <= until)]
        after = notifications[-1].id


def _decoded(app: Application, row: dict[str, Any]) -> Any:
    return app.mapper.to_domain_event(StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])))


def ticket_stream_scope(app: Application, scope: AuditScope, ticket_id: UUID, ticket: object) -> None:
    """A ticket's own stream is the caller's to read: 404 for another tenant's (or no) ticket, 403
    for a sensitive one the caller is not cleared for."""
    a = LIVE.aggregates
    query = SQL("SELECT tenant, sensitive, aggregate_type FROM {} WHERE aggregate_id = %s").format(Identifier(a.name))
    with app.recorder.datastore.transaction(commit=False) as curs:
        row = curs.execute(query, (ticket_id,)).fetchone()
    is_ticket = row is not None and row["aggregate_type"] == "Ticket"
    ensure_in_audit_scope(scope, ticket, row["tenant"] if is_ticket else None, bool(row and row["sensitive"]))


def _read(app: Application, scope: AuditScope, after: int, limit: int, filters: AuditFilters) -> list[AuditEvent]:
    """A page: the chain's rows that pass every filter (with their aggregates'), then their stored
    events by notification id. Filtering on the chain alone keeps a page's cost to the rows it
    passes over, not to every stored event between them."""
    query, params = _chain_query(scope, after, limit, filters)
    events = SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {} WHERE notification_id = ANY(%s)")
    with app.recorder.datastore.transaction(commit=False) as curs:
        chained = curs.execute(query, params).fetchall()
        if not chained:
            return []
        found = curs.execute(events.format(Identifier(EVENTS_TABLE)), ([r["notification_id"] for r in chained],)).fetchall()
    stored = {row["notification_id"]: row for row in found}
    # An event the chain has and the store lacks (deleted) is left out: `docket audit verify` names it.
    return [audit_event(app, {**row, **stored[row["notification_id"]]}) for row in chained if row["notification_id"] in stored]


def _chain_query(scope: AuditScope, after: int, limit: int, filters: AuditFilters) -> tuple[Composed, dict[str, Any]]:
    where = [SQL("c.tenant = %(tenant)s"), SQL("c.notification_id > %(after)s")]
    params: dict[str, Any] = {"tenant": scope.tenant, "after": after, "limit": limit}
    if not scope.sensitive:
        where.append(SQL("NOT a.sensitive"))
    if filters.aggregate_id is not None:
        where.append(SQL("c.aggregate_id = %(aggregate_id)s"))
        params["aggregate_id"] = filters.aggregate_id
    if filters.since is not None:
        where.append(SQL("c.at >= %(since)s"))
        params["since"] = filters.since
    if filters.until is not None:
        where.append(SQL("c.at <= %(until)s"))
        params["until"] = filters.until
    if filters.types:
        # `Ticket.Opened` names one event; `Opened` that event of any aggregate.
        where.append(SQL("(c.event = ANY(%(qualified)s) OR split_part(c.event, '.', 2) = ANY(%(names)s))"))
        params["qualified"] = [name for name in filters.types if "." in name]
        params["names"] = [name for name in filters.types if "." not in name]
    query = SQL(
        "SELECT c.notification_id, c.hash, c.at, a.aggregate_type, a.redacted FROM {chain} c "
        "JOIN {aggregates} a ON a.aggregate_id = c.aggregate_id WHERE {where} ORDER BY c.notification_id LIMIT %(limit)s"
    ).format(chain=Identifier(LIVE.chain.name), aggregates=Identifier(LIVE.aggregates.name), where=SQL(" AND ").join(where))
    return query, params


def audit_event(app: Application, row: dict[str, Any]) -> AuditEvent:
    """An event as the audit trail shows it, from its chain row and its stored row (see _query)."""
    stored = StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
    common = {
        "notification_id": row["notification_id"],
        "aggregate_id": row["originator_id"],
        "aggregate_type": row["aggregate_type"] or aggregate_type(row["topic"]),
        "version": row["originator_version"],
        "event": event_type(row["topic"]),
        "hash": bytes(row["hash"]).hex(),
    }
    try:
        domain_event = app.mapper.to_domain_event(stored)
    except Exception:  # noqa: BLE001 - altered bytes, an erased key, a class gone: listed, not fatal
        return AuditEvent(**common, at=row["at"], actor=None, role=None, fields={}, readable=False)
    state = vars(domain_event)
    fields = {name: value for name, value in state.items() if name not in ENVELOPE}
    return AuditEvent(
        **common,
        at=domain_event.timestamp,
        actor=state.get("actor_id"),
        role=state.get("actor_role"),
        fields=redacted(fields, row["redacted"] or ()),
    )


def count_tenant_events(app: Application, tenant: str, topics: tuple[str, ...], until: datetime | None = None) -> int:
    """How many events tenant_events gives (those already chained): for a progress bar."""
    query = SQL(
        "SELECT count(*) AS n FROM {} c JOIN {} e ON e.notification_id = c.notification_id WHERE c.tenant = %(tenant)s "
        "AND (%(until)s::timestamptz IS NULL OR c.at <= %(until)s) AND (cardinality(%(topics)s::text[]) = 0 OR e.topic = ANY(%(topics)s))"
    ).format(Identifier(LIVE.chain.name), Identifier(EVENTS_TABLE))
    with app.recorder.datastore.transaction(commit=False) as curs:
        return curs.execute(query, {"tenant": tenant, "until": until, "topics": list(topics)}).fetchone()["n"]
