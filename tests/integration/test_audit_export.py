"""Exports verify offline with nothing but the file and the public key, and fail after any change;
the `docket audit` commands say so with their exit codes."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import nats
import pytest

from commands.structs import ChangeStatus, RedactField
from commands.tickets import change_status, redact_field
from domain.audit_access import REDACTED
from domain.audit_chain import checkpoint_message
from domain.audit_keys import new_signing_key_text, signing_key_from_text
from domain.permissions import Actor, Role
from projections.audit_checkpoints import Checkpoint, recorded_checkpoints, sign_heads
from tests.conftest import CIPHER_KEY
from tests.integration.audit_helpers import byte_changed, chained, open_some
from workers import cli
from workers.audit_checkpoints import audit_bucket, head_key
from workers.audit_export import export
from workers.audit_offline import verify_export

KEY_TEXT = new_signing_key_text()
KEY = signing_key_from_text(KEY_TEXT)


@pytest.fixture
def recorded(app, projectors, projected, tenant):
    """A tenant's tickets, one with a redacted phone number, chained and checkpointed midway."""
    opened = open_some(app, tenant, 2, reporter={"name": "Ann", "phone": "+27 21 555 0100"})
    chained(projectors, app)
    sign_heads(app.recorder.datastore, KEY, tenant)
    manager, admin = Actor("manager-1", tenant, Role.MANAGER), Actor("admin-1", tenant, Role.ADMIN)
    change_status(app, ChangeStatus(actor=manager, ticket_id=opened[0].id, status="in_progress", note="crew sent"))
    redact_field(app, RedactField(actor=admin, ticket_id=opened[1].id, field="reporter_phone", reason="asked"))
    chained(projectors, app)
    projected()  # the tests alter stored events afterwards, which no projection must meet
    return opened


def exported(app, tenant: str, tmp_path: Path, **options) -> Path:
    out = io.BytesIO()
    summary = export(app, tenant, out, KEY, **options)
    assert summary.events == 4 and summary.checkpoints == 1
    path = tmp_path / f"{tenant}.ndjson"
    path.write_bytes(out.getvalue())
    return path


@pytest.mark.parametrize("stored", [False, True], ids=["decrypted", "stored"])
def test_an_export_verifies_offline_and_fails_after_a_one_byte_change(app, recorded, tenant, tmp_path, stored):
    path = exported(app, tenant, tmp_path, stored=stored)
    report = verify_export(path, KEY.verify_key)
    assert report.intact and report.events == 4 and report.checkpoints == 1, report.lines()
    data = path.read_bytes()
    for needle in (b"crew sent" if not stored else b'"state":"', b'"version":2', b'"hash":"'):
        at = data.index(needle) + len(needle) - 1
        changed = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
        path.write_bytes(changed)
        tampered = verify_export(path, KEY.verify_key)
        assert not tampered.intact, needle
    path.write_bytes(data)
    assert verify_export(path, signing_key_from_text(new_signing_key_text()).verify_key).intact is False


def test_a_decrypted_export_shows_the_events_with_redacted_fields_kept_redacted(app, recorded, tenant, tmp_path):
    lines = [json.loads(line) for line in exported(app, tenant, tmp_path).read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["header", "checkpoint", "event", "event", "event", "event", "signature"]
    events = [line for line in lines if line["kind"] == "event"]
    assert [e["event"] for e in events] == ["Opened", "Opened", "StatusChanged", "FieldRedacted"]
    redacted_ticket = next(e for e in events if e["aggregate_id"] == str(recorded[1].id) and e["event"] == "Opened")
    assert redacted_ticket["fields"]["reporter_phone"] == REDACTED and redacted_ticket["fields"]["reporter_name"] == "Ann"
    assert events[2]["fields"]["note"] == "crew sent" and events[2]["actor"] == "manager-1"
    assert exported(app, tenant, tmp_path).read_bytes().count(b"555 0100") == 1  # the ticket whose phone was not redacted


def test_an_export_of_a_store_altered_since_the_chain_was_kept_fails_offline(app, recorded, tenant, tmp_path):
    first_event = recorded[0].notification_id
    with byte_changed(app, first_event):
        path = exported(app, tenant, tmp_path, stored=True)
    report = verify_export(path, KEY.verify_key)
    assert report.first_bad == first_event, report.lines()


@pytest.fixture
def docket(monkeypatch, database_url, nats_url, tmp_path):
    """`docket` as an operator runs it, on this session's servers, with the audit key."""
    for name, value in {
        "DOCKET_DATABASE_URL": database_url,
        "DOCKET_NATS_URL": nats_url,
        "DOCKET_CIPHER_KEY": CIPHER_KEY,
        "DOCKET_AUDIT_SIGNING_KEY": KEY_TEXT,
        "DOCKET_DATA_DIR": str(tmp_path / "data"),
        "DOCKET_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    return cli.main


def test_the_audit_commands_checkpoint_export_and_verify_with_exit_codes(docket, app, recorded, tenant, tmp_path, capsys):
    assert docket(["audit", "checkpoint", "--tenant", tenant]) == 0
    assert docket(["audit", "verify", "--tenant", tenant]) == 0
    assert "intact" in capsys.readouterr().out
    key, export_file = tmp_path / "key.pem", tmp_path / "t.ndjson"
    assert docket(["audit", "public-key"]) == 0
    key.write_text(capsys.readouterr().out)
    assert docket(["audit", "export", "--tenant", tenant, "--output", str(export_file)]) == 0
    assert docket(["audit", "verify", "--file", str(export_file), "--public-key", str(key)]) == 0
    assert "intact" in capsys.readouterr().out
    export_file.write_bytes(export_file.read_bytes().replace(b"crew sent", b"crew SENT"))
    assert docket(["audit", "verify", "--file", str(export_file), "--public-key", str(key)]) == 1
    assert "signature does not match" in capsys.readouterr().out
    with byte_changed(app, recorded[1].notification_id):
        assert docket(["audit", "verify", "--tenant", tenant]) == 1
    assert f"first bad notification id {recorded[1].notification_id}" in capsys.readouterr().out
    key.write_text("not a key")
    assert docket(["audit", "verify", "--file", str(export_file), "--public-key", str(key)]) == 2


def test_verify_refuses_a_checkpoint_put_in_nats_with_another_key(docket, app, recorded, tenant, nats_url, capsys):
    head = recorded_checkpoints(app.recorder.datastore, tenant)[-1]
    other = signing_key_from_text(new_signing_key_text())
    at = datetime.now(UTC).isoformat()
    forged = Checkpoint(
        tenant, head.notification_id, head.hash, at, other.sign(checkpoint_message(tenant, head.notification_id, head.hash, at)), KEY.key_id
    )

    async def put() -> None:
        client = await nats.connect(nats_url)
        try:
            kv = await audit_bucket(client.jetstream())
            await kv.put(head_key(tenant), msgspec.json.encode(forged))
        finally:
            await client.close()

    asyncio.run(put())
    assert docket(["audit", "verify", "--tenant", tenant]) == 1
    out = capsys.readouterr().out
    assert f"first bad notification id {head.notification_id}" in out and "did not make" in out


def test_figures_and_sla_replay_commands_print_and_refuse_a_bad_policies_file(docket, recorded, tenant, tmp_path, capsys):
    assert docket(["audit", "figures", "--tenant", tenant, "--as-of", "now"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["tenant"] == tenant and figures["metrics"]["total_open"] == 2
    policies = tmp_path / "policies.json"
    policies.write_text(json.dumps({"policies": [{"id": "fast", "response_hours": 1, "resolution_hours": 8}]}))
    assert docket(["audit", "sla-replay", "--tenant", tenant, "--policies", str(policies), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["category"], r["priority"]) for r in rows] == [("lighting", "medium")]
    assert rows[0]["recorded"]["met"] == 0 and rows[0]["replayed"]["met"] + rows[0]["replayed"]["undecided"] == 2
    policies.write_text(json.dumps({"policies": [{"id": "bad", "response_hours": -1}]}))
    assert docket(["audit", "sla-replay", "--tenant", tenant, "--policies", str(policies)]) == 2
    assert "policies[0].response_hours" in capsys.readouterr().err
    policies.write_text("not json")
    assert docket(["audit", "sla-replay", "--tenant", tenant, "--policies", str(policies)]) == 2
    with pytest.raises(SystemExit) as refused:  # the parser's own exit, before anything is set up
        docket(["audit", "figures", "--tenant", "no such tenant!", "--as-of", "now"])
    assert refused.value.code == 2
