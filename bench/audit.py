"""The audit trail over a million events: `verify` and `export` events/s, each beside the floor of
reading the same stored bytes with psycopg and nothing else, as a ratio.

    .venv/bin/python bench/audit.py [--events 1000000] [--tenants 20]

Storing a million events through the use cases would take most of an hour, so they are written
as the application would store them, in bulk: real Ticket events of real histories (opened, moved,
replied to, assigned, resolved), one aggregate per ticket spread over the tenants, each turned
into its stored form by the application's own mapper (transcoded and AES-GCM encrypted, a fresh
nonce per event) and copied into the application's events table, whose sequence gives the
notification ids. Then the audit chain is built by its projection (the projector's work, timed),
each tenant's head is signed, and what is measured runs as `docket audit verify` and `docket audit
export` run. The scratch database is made as bench/load.py makes it, and dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers that find and start servers live in tests/

import psycopg  # noqa: E402

from bench.common import CIPHER_KEY, database_server, safe  # noqa: E402
from commands.app import Docket, eventsourcing_env  # noqa: E402
from commands.config_cache import conninfo  # noqa: E402
from domain.audit_keys import new_signing_key_text, signing_key_from_text  # noqa: E402
from domain.permissions import Actor, Role  # noqa: E402
from domain.routing import Offer  # noqa: E402
from domain.ticket import Ticket  # noqa: E402
from domain.workflow import MUNICIPAL  # noqa: E402
from projections.audit_chain import EVENTS_TABLE  # noqa: E402
from projections.audit_checkpoints import recorded_checkpoints, sign_heads  # noqa: E402
from projections.operations import ensure_tables, rebuild  # noqa: E402
from tests.servers import fresh_database  # noqa: E402
from workers.audit_export import export  # noqa: E402
from workers.audit_offline import verify_export  # noqa: E402
from workers.audit_verify import verify_store  # noqa: E402

log = logging.getLogger("bench")
KEY = signing_key_from_text(new_signing_key_text())


def histories(tenant: str) -> list[list]:
    """A few ticket histories as the domain records them: the events to copy for each ticket."""
    made = []
    for n in range(4):
        reporter = Actor(id=f"citizen-{n}", tenant=tenant, role=Role.REPORTER)
        manager, agent = Actor("manager-1", tenant, Role.MANAGER), Actor("tech-1", tenant, Role.AGENT)
        ticket = Ticket.open(
            reporter, f"TKT-{n:06d}", MUNICIPAL, title="Water main leak", description="Water running down Oak Rd since 6am" * (n + 1),
            category="water", priority="high", ward="w7", reporter={"name": "Ann", "phone": "+27 21 555 0100"},
        )  # fmt: skip
        ticket.assign(manager, Offer("team-1", "Water", False, "tech-1", "Tia", "water", "rule 'water' matched"))
        ticket.change_status(manager, "in_progress", "crew sent")
        for _ in range(n):
            ticket.reply(agent, uuid.uuid4(), "On our way; the valve is two streets up.")
        ticket.change_status(manager, "resolved", "fixed")
        made.append(ticket.collect_events())
    return made


def store(app: Docket, events: int, tenants: int) -> int:
    """Writes about `events` stored events, a ticket at a time round the tenants; returns how many."""
    templates = {t: histories(f"bench{t:02d}") for t in range(tenants)}
    written, began, ticket = 0, time.perf_counter(), 0
    with psycopg.connect(conninfo(app)) as conn:
        while written < events:
            with conn.cursor().copy(f"COPY {EVENTS_TABLE} (originator_id, originator_version, topic, state) FROM STDIN") as copy:
                for _ in range(2000):
                    history = templates[ticket % tenants][ticket % 4]
                    ticket_id = uuid.uuid4()
                    for e in history:
                        copied = type(e)(**{**vars(e), "originator_id": ticket_id})
                        stored = app.mapper.to_stored_event(copied)
                        copy.write_row((stored.originator_id, stored.originator_version, stored.topic, stored.state))
                    written += len(history)
                    ticket += 1
            conn.commit()
            log.info("stored %d events (%.0f/s)", written, written / (time.perf_counter() - began))
    return written


def raw_read(database_url: str) -> float:
    """The floor: every stored row's bytes read with psycopg, in the same windows, nothing else done."""
    began, rows = time.perf_counter(), 0
    with psycopg.connect(database_url) as conn:
        last = conn.execute(f"SELECT max(notification_id) FROM {EVENTS_TABLE}").fetchone()[0]
        for low in range(0, last, 20_000):
            with conn.cursor(binary=True) as curs:
                rows += len(
                    curs.execute(
                        f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS_TABLE} "
                        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id",
                        (low, low + 20_000),
                    ).fetchall()
                )
    return rows / (time.perf_counter() - began)


def raw_tenant_read(database_url: str, tenant: str) -> float:
    """The floor of an export: the tenant's stored rows read by notification id, 5,000 at a time, as
    an export reads them (a tenant's events lie among every other tenant's: the pages they sit on
    are most of the table), and nothing else done."""
    began, rows = time.perf_counter(), 0
    with psycopg.connect(database_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT notification_id FROM audit_chain WHERE tenant = %s ORDER BY 1", (tenant,))]
        for first in range(0, len(ids), 5000):
            with conn.cursor(binary=True) as curs:
                query = f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS_TABLE} WHERE notification_id = ANY(%s)"
                rows += len(curs.execute(query, (ids[first : first + 5000],)).fetchall())
    return rows / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = database_server()
    with tempfile.TemporaryDirectory() as scratch, fresh_database(server, Path(scratch)) as database_url:
        log.info("scratch database %s", safe(database_url))
        app = Docket(env=eventsourcing_env(database_url, CIPHER_KEY))
        try:
            ensure_tables(app.recorder.datastore)
            began = time.perf_counter()
            stored = store(app, args.events, args.tenants)
            storing = stored / (time.perf_counter() - began)
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f"ANALYZE {EVENTS_TABLE}")
            began = time.perf_counter()
            rebuild(app, "audit_chain")
            chaining = stored / (time.perf_counter() - began)
            sign_heads(app.recorder.datastore, KEY)
            checkpoints = recorded_checkpoints(app.recorder.datastore)
            floor = raw_read(database_url)
            report = verify_store(database_url, checkpoints)
            assert report.intact, report.lines()
            verifying = report.events / report.seconds
            tenant = "bench00"
            tenant_floor = raw_tenant_read(database_url, tenant)
            results = {}
            for stored_form in (True, False):
                out = io.BytesIO()
                summary = export(app, tenant, out, KEY, stored=stored_form)
                results[stored_form] = summary.events / summary.seconds
                path = Path(scratch) / f"export-{stored_form}.ndjson"
                path.write_bytes(out.getvalue())
                offline = verify_export(path, KEY.verify_key)
                assert offline.intact, offline.lines()
                results[("offline", stored_form)] = offline.events / offline.seconds
        finally:
            app.close()
    print(f"events stored in bulk through the mapper (AES-GCM): {stored}, {storing:,.0f}/s")
    print(f"audit chain built by its projection: {chaining:,.0f} events/s")
    print(f"floor, raw psycopg read of every stored row: {floor:,.0f} rows/s")
    print(f"docket audit verify, {stored} events of {args.tenants} tenants: {verifying:,.0f} events/s = {verifying / floor:.2f}x")
    print(f"floor of an export, raw psycopg read of {tenant}'s stored rows by notification id: {tenant_floor:,.0f} rows/s")
    for stored_form, label in ((True, "--stored"), (False, "decrypted")):
        print(f"docket audit export {label}, {tenant}: {results[stored_form]:,.0f} events/s = {results[stored_form] / tenant_floor:.2f}x")
        print(f"  and its offline verify: {results[('offline', stored_form)]:,.0f} events/s")


if __name__ == "__main__":
    main()
