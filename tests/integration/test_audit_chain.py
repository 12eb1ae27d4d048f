"""The audit chain over the stored events: kept by the projector exactly once, recomputed by
`verify` from the bytes as stored, and checked against signed checkpoints."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest

from commands.config_cache import conninfo
from commands.structs import ChangeStatus
from commands.tickets import change_status
from domain.audit_chain import checkpoint_message, genesis, link, state_digest
from domain.audit_keys import SigningKey, new_signing_key_text, signing_key_from_text
from domain.permissions import Actor, Role
from projections.audit_chain import EVENTS_TABLE, LIVE
from projections.audit_checkpoints import Checkpoint, recorded_checkpoints, sign_heads
from projections.operations import events_after, rebuild
from tests.integration.audit_helpers import byte_changed, chained, deleted, open_some, swapped
from workers.audit_checkpoints import BUCKET, HISTORY, checkpoint_now, published_checkpoints
from workers.audit_verify import Report, trusted_checkpoints, verify_store

KEY = signing_key_from_text(new_signing_key_text())


def tenant_ids(app, tenant: str) -> list[int]:
    with psycopg.connect(conninfo(app)) as conn:
        return [r[0] for r in conn.execute(f"SELECT notification_id FROM {LIVE.chain.name} WHERE tenant = %s ORDER BY 1", (tenant,))]


def verified(app, tenant: str, key: SigningKey = KEY) -> Report:
    report = Report()
    trusted = trusted_checkpoints(list(recorded_checkpoints(app.recorder.datastore, tenant)), key.verify_key, report)
    return verify_store(conninfo(app), trusted, tenant, report=report, window=7)  # small windows: their edges are crossed too


@pytest.fixture
def history(app, projectors, projected, tenant):
    """A tenant with a few tickets and moves, chained, projected (the tests alter the stored events
    afterwards, which no projection must meet) and checkpointed."""
    opened = open_some(app, tenant, 3)
    manager = Actor(id="manager-1", tenant=tenant, role=Role.MANAGER)
    for ticket in opened:
        change_status(app, ChangeStatus(actor=manager, ticket_id=ticket.id, status="in_progress"))
    chained(projectors, app)
    projected()
    sign_heads(app.recorder.datastore, KEY, tenant)
    return tenant_ids(app, tenant)


def test_the_chain_is_each_tenants_events_hashed_in_order_over_their_stored_bytes(app, projectors, history, tenant):
    with psycopg.connect(conninfo(app)) as conn:
        rows = conn.execute(
            f"SELECT c.notification_id, c.hash, e.originator_id, e.originator_version, e.topic, e.state FROM {LIVE.chain.name} c "
            f"JOIN {EVENTS_TABLE} e USING (notification_id) WHERE c.tenant = %s ORDER BY 1",
            (tenant,),
        ).fetchall()
        head = conn.execute(f"SELECT notification_id, hash, length FROM {LIVE.heads.name} WHERE tenant = %s", (tenant,)).fetchone()
    previous = genesis(tenant)
    for notification_id, recorded, aggregate_id, version, topic, state in rows:
        previous = link(previous, notification_id, aggregate_id.bytes, version, topic.encode(), state_digest(state))
        assert previous == recorded
    assert len(rows) == 6 and head == (rows[-1][0], previous, 6)


def test_a_batch_the_chain_applied_already_changes_nothing_when_applied_again(app, projectors, history, tenant):
    loop = projectors["audit_chain"]
    batch = events_after(app, history[0] - 1, (), 3)
    with app.recorder.datastore.transaction(commit=True) as curs:
        loop.projection.apply_batch(curs, batch)
    assert tenant_ids(app, tenant) == history
    assert verified(app, tenant).intact


def test_an_untouched_store_verifies_with_its_checkpoints(app, history, tenant):
    report = verified(app, tenant)
    assert report.intact, report.lines()
    assert report.events == 6 and report.checkpoints == 1 and report.tenants == {tenant}


def test_one_byte_changed_in_one_stored_event_is_named_by_its_notification_id(app, history, tenant):
    target = history[2]
    with byte_changed(app, target):
        report = verified(app, tenant)
    assert report.first_bad == target, report.lines()
    assert "altered" in report.lines()[0 if not report.notes else len(report.notes)]
    assert verified(app, tenant).intact


def test_a_deleted_event_is_named_by_its_notification_id(app, history, tenant):
    target = history[3]
    with deleted(app, target):
        report = verified(app, tenant)
    assert report.first_bad == target and "missing" in " ".join(report.lines()), report.lines()


def test_two_events_swapped_in_the_global_order_are_caught_at_the_first_of_them(app, history, tenant):
    with swapped(app, history[1], history[4]):
        report = verified(app, tenant)
    assert report.first_bad == history[1], report.lines()
    assert {n for n, _ in report.problems} >= {history[1], history[4]}


def test_an_event_the_chain_has_no_row_for_is_caught_by_the_whole_store_verify(app, history, tenant):
    target = history[2]
    with psycopg.connect(conninfo(app), autocommit=True) as conn:
        row = conn.execute(f"DELETE FROM {LIVE.chain.name} WHERE notification_id = %s RETURNING *", (target,)).fetchone()
        try:
            report = verify_store(conninfo(app), [], None)
        finally:
            conn.execute(f"INSERT INTO {LIVE.chain.name} VALUES ({', '.join(['%s'] * len(row))})", row)
    assert report.first_bad == target and "never saw" in dict(report.problems)[target], report.lines()


def test_a_chain_table_rewritten_to_match_an_altered_event_is_caught_by_the_signed_checkpoint(app, history, tenant):
    target, last = history[1], history[-1]
    with byte_changed(app, target), psycopg.connect(conninfo(app), autocommit=True) as conn:
        saved = conn.execute(f"SELECT notification_id, hash FROM {LIVE.chain.name} WHERE tenant = %s ORDER BY 1", (tenant,)).fetchall()
        _rewrite_chain(conn, tenant)  # what an intruder who knows the formula would do
        try:
            report = verified(app, tenant)
        finally:
            for notification_id, digest in saved:
                conn.execute(f"UPDATE {LIVE.chain.name} SET hash = %s WHERE notification_id = %s", (digest, notification_id))
            conn.execute(f"UPDATE {LIVE.heads.name} SET hash = %s WHERE tenant = %s", (saved[-1][1], tenant))
    assert report.problems == [(last, report.problems[0][1])] and "checkpoint" in report.problems[0][1], report.lines()
    assert verified(app, tenant).intact


def _rewrite_chain(conn: psycopg.Connection, tenant: str) -> None:
    rows = conn.execute(
        f"SELECT c.notification_id, e.originator_id, e.originator_version, e.topic, e.state FROM {LIVE.chain.name} c "
        f"JOIN {EVENTS_TABLE} e USING (notification_id) WHERE c.tenant = %s ORDER BY 1",
        (tenant,),
    ).fetchall()
    previous = genesis(tenant)
    for notification_id, aggregate_id, version, topic, state in rows:
        previous = link(previous, notification_id, aggregate_id.bytes, version, topic.encode(), state_digest(state))
        conn.execute(f"UPDATE {LIVE.chain.name} SET hash = %s WHERE notification_id = %s", (previous, notification_id))
    conn.execute(f"UPDATE {LIVE.heads.name} SET hash = %s WHERE tenant = %s", (previous, tenant))


def test_a_checkpoint_signed_with_another_key_is_refused_whatever_key_id_it_names(app, history, tenant):
    other = signing_key_from_text(new_signing_key_text())
    genuine = recorded_checkpoints(app.recorder.datastore, tenant)[-1]
    at = datetime.now(UTC).isoformat()
    message = checkpoint_message(tenant, genuine.notification_id, genuine.hash, at)
    forged_as_ours = Checkpoint(tenant, genuine.notification_id, genuine.hash, at, other.sign(message), KEY.key_id)
    forged_as_itself = Checkpoint(tenant, genuine.notification_id, genuine.hash, at, other.sign(message), other.key_id)
    report = Report()
    assert trusted_checkpoints([genuine, forged_as_ours, forged_as_itself], KEY.verify_key, report) == [genuine]
    assert [n for n, _ in report.problems] == [genuine.notification_id] * 2
    assert "did not make" in report.problems[0][1] and "not the audit key" in report.problems[1][1]


def test_checkpoints_are_signed_when_a_head_moves_and_published_to_nats_with_history(app, projectors, nats_url, tenant):
    open_some(app, tenant, 1)
    chained(projectors, app)
    first = asyncio.run(checkpoint_now(app.recorder.datastore, nats_url, KEY, tenant))
    assert asyncio.run(checkpoint_now(app.recorder.datastore, nats_url, KEY, tenant)) == []  # nothing new: nothing signed
    open_some(app, tenant, 1)
    chained(projectors, app)
    second = asyncio.run(checkpoint_now(app.recorder.datastore, nats_url, KEY, tenant))
    published = asyncio.run(published_checkpoints(nats_url, tenant))
    assert published == first + second and len(published) == 2 and HISTORY == 64
    assert all(KEY.verify_key.verifies(c.message, c.signature) for c in published)
    assert BUCKET == "DOCKET_AUDIT"


def test_verify_reads_no_plaintext_the_stored_bytes_are_what_it_hashes(app, history, tenant):
    """An event whose key is gone (as after erasure) cannot be read, and still verifies: the chain
    never needed to read it."""
    with psycopg.connect(conninfo(app)) as conn:
        state = conn.execute(f"SELECT state FROM {EVENTS_TABLE} WHERE notification_id = %s", (history[0],)).fetchone()[0]
    assert b"Streetlight" not in state and b"tenant" not in state
    assert verified(app, tenant).intact


def test_rebuilding_the_chain_gives_exactly_the_rows_the_live_projection_kept(app, projectors, history):
    def rows() -> dict[str, list]:
        with psycopg.connect(conninfo(app)) as conn:
            return {
                table.name: conn.execute(
                    f"SELECT * FROM {table.name} ORDER BY {', '.join(c.name for c in table.primary_key.columns)}"
                ).fetchall()
                for table in LIVE.metadata.sorted_tables
            }

    chained(projectors, app)
    before = rows()
    rebuild(app, "audit_chain")
    assert rows() == before
