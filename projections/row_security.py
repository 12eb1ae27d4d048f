"""Row-level security: the read models answer the API's queries only with the caller's rows.

The API filters every query by tenant and clearance; PostgreSQL checks it again. Each of the
API's transactions runs as the role `docket_api` with the caller's tenant and clearance set, and
the read-model tables carry policies by tenant (and, for tickets, by clearance and reporter), so a
query that forgets its filter still returns nothing it should not. The projector, the migrations
and the command side keep the database user's own role, which owns the tables and bypasses them.

Where the database user may not create roles (a managed database, say), the API runs with its own
filters alone and says so once at start.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor
from psycopg.sql import SQL, Identifier, Literal
from sqlalchemy import Table, event
from sqlalchemy.engine import Engine

from domain.permissions import Action, Actor, Role, may

log = logging.getLogger(__name__)

ROLE = "docket_api"
POLICY = "docket_reader"
TENANT_ONLY = SQL("tenant = current_setting('docket.tenant', true)")
# A ticket: the caller's tenant, a kind (sensitive or ordinary) they are cleared for, and for a
# reporter their own. "No reporter set" is a length below 1, not an equality with '': the planner
# takes an equality between two expressions to hold for one row in 200, so it thought a tenant's
# list held a few rows, sorted them all rather than read a page off the (tenant, created_at) index,
# and a 20-row page of 3,000 tickets took 5 ms instead of 0.2.
TICKET_RULE = SQL(
    "tenant = current_setting('docket.tenant', true)"
    " AND CASE WHEN is_sensitive THEN current_setting('docket.sensitive', true) = 'yes'"
    " ELSE current_setting('docket.ordinary', true) = 'yes' END"
    " AND (length(coalesce(current_setting('docket.reporter', true), '')) < 1 OR reporter_id = current_setting('docket.reporter', true))"
)


@dataclass(frozen=True)
class Reader:
    """Whose rows the API's queries may return, set per request from the caller's token."""

    tenant: str
    sensitive: bool
    ordinary: bool
    reporter: str = ""

    @classmethod
    def of(cls, actor: Actor) -> Reader:
        reporter = actor.role is Role.REPORTER
        return cls(
            tenant=actor.tenant,
            sensitive=reporter or may(actor.role, Action.READ_SENSITIVE),
            ordinary=reporter or may(actor.role, Action.READ_ORDINARY),
            reporter=actor.id if reporter else "",
        )


reading_as: contextvars.ContextVar[Reader | None] = contextvars.ContextVar("reading_as", default=None)


@contextlib.contextmanager
def as_docket() -> Iterator[None]:
    """Queries made on the service's behalf, not the caller's (workloads for routing, the check
    that finds a ticket before saying 403 or 404): not narrowed to the caller's rows."""
    token = reading_as.set(None)
    try:
        yield
    finally:
        reading_as.reset(token)


def ensure_role(curs: Cursor[Any], schema: str) -> bool:
    """Creates the role the API reads as, if the database user may; whether it exists."""
    curs.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
    if curs.fetchone() is None:
        curs.execute("SELECT rolcreaterole OR rolsuper AS may FROM pg_roles WHERE rolname = current_user")
        if not curs.fetchone()["may"]:
            log.warning("the database user may not create roles: row-level security is off; the API's own filters remain")
            return False
        curs.execute(SQL("CREATE ROLE {} NOLOGIN").format(Identifier(ROLE)))
        curs.execute(SQL("GRANT {} TO CURRENT_USER").format(Identifier(ROLE)))
    curs.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(Identifier(schema), Identifier(ROLE)))
    curs.execute(SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(Identifier(schema), Identifier(ROLE)))
    curs.execute(SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(Identifier(schema), Identifier(ROLE)))
    return True


def secure_table(curs: Cursor[Any], table: Table) -> None:
    """The table's policy for the API's role, if the table holds tenants' rows and the role exists.
    Made only where it is not in place already, as this code words it (a stamp of the rule rides
    on the policy's comment): altering a table waits for, and then blocks, every query on it, and
    the other processes of a deployment starting beside this one, or running, are making them."""
    if "tenant" not in table.c or not role_exists(curs):
        return
    rule = TICKET_RULE if {"is_sensitive", "reporter_id"} <= set(table.c.keys()) else TENANT_ONLY
    stamp = "docket " + hashlib.sha256(rule.as_string(curs).encode()).hexdigest()[:16]
    if _secured(curs, table.name, stamp):
        return
    name = Identifier(table.name)
    curs.execute(SQL("GRANT SELECT ON {} TO {}").format(name, Identifier(ROLE)))
    curs.execute(SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(name))
    curs.execute(SQL("DROP POLICY IF EXISTS {} ON {}").format(Identifier(POLICY), name))
    curs.execute(SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING ({})").format(Identifier(POLICY), name, Identifier(ROLE), rule))
    curs.execute(SQL("COMMENT ON POLICY {} ON {} IS {}").format(Identifier(POLICY), name, Literal(stamp)))


def _secured(curs: Cursor[Any], table: str, stamp: str) -> bool:
    curs.execute(
        "SELECT c.relrowsecurity AND has_table_privilege(%s, c.oid, 'SELECT')"
        " AND obj_description(p.oid, 'pg_policy') IS NOT DISTINCT FROM %s AS secured"
        " FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s WHERE c.oid = to_regclass(%s)",
        (ROLE, stamp, POLICY, table),
    )
    row = curs.fetchone()
    return bool(row and (row["secured"] if isinstance(row, Mapping) else row[0]))


def enforce_on(engine: Engine) -> None:
    """Every transaction of the engine begun while a caller is set runs as the API's role, with
    their tenant and clearance: the policies then narrow what any query returns. Whether the role
    exists is asked at the first such transaction (the database may not answer at start)."""
    if not event.contains(engine, "begin", _as_reader):
        event.listen(engine, "begin", _as_reader)


_available: dict[int, bool] = {}  # per engine: whether the role exists


def _as_reader(conn: Any) -> None:
    reader = reading_as.get()
    if reader is not None:
        read_as(conn, reader)


def read_as(conn: Any, reader: Reader | None, *, session: bool = False) -> None:
    """The rest of the connection's transaction (or, with session, its session) reads as the
    reader; None: as Docket, the tables' owner, whom the policies do not narrow."""
    if not _role_available(conn):
        return
    local = "false" if session else "true"
    if reader is None:
        conn.exec_driver_sql(f"SELECT set_config('role', 'none', {local})")
        return
    conn.exec_driver_sql(
        f"SELECT set_config('role', %(role)s, {local}), set_config('docket.tenant', %(tenant)s, {local}),"
        f" set_config('docket.sensitive', %(sensitive)s, {local}), set_config('docket.ordinary', %(ordinary)s, {local}),"
        f" set_config('docket.reporter', %(reporter)s, {local})",
        {
            "role": ROLE,
            "tenant": reader.tenant,
            "sensitive": "yes" if reader.sensitive else "no",
            "ordinary": "yes" if reader.ordinary else "no",
            "reporter": reader.reporter,
        },
    )


def _role_available(conn: Any) -> bool:
    key = id(conn.engine)
    if key not in _available:
        found = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %(role)s", {"role": ROLE}).first() is not None
        if not found:
            log.warning("no role %s in the database: row-level security is off; the API's own filters remain", ROLE)
        _available[key] = found
    return _available[key]


def role_exists(curs: Cursor[Any]) -> bool:
    curs.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
    return curs.fetchone() is not None
