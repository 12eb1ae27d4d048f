"""Offline verification of an export, with nothing but the file and a key: whatever the file holds,
it reports what is wrong and never fails itself. And the audit key's forms, and redaction."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.audit_access import REDACTED, redacted
from domain.audit_chain import checkpoint_message, export_message, genesis, link, state_digest
from domain.audit_keys import BadKey, new_signing_key_text, signing_key_from_text, verify_key_from_pem
from workers.audit_export import FORMAT, CheckpointLine, EventLine, Header, SignatureLine
from workers.audit_offline import verify_export

KEY = signing_key_from_text(new_signing_key_text())
TENANT = "city"
TOPIC = "domain.ticket:Ticket.StatusChanged"


def export_bytes(events: int = 5, stored: bool = True, checkpoint_at: int | None = 3, keep: int | None = None) -> bytes:
    """An export as `docket audit export` writes one, made here from made-up stored events."""
    lines: list[bytes] = []
    encode = msgspec.json.encode
    previous = genesis(TENANT)
    lines.append(encode(Header(FORMAT, TENANT, "2026-01-01T00:00:00+00:00", stored, previous.hex(), KEY.key_id)))
    rows = []
    for n in range(1, events + 1):
        state = f"encrypted bytes of event {n}".encode()
        aggregate = uuid.UUID(int=n % 2)
        previous = link(previous, n, aggregate.bytes, n, TOPIC.encode(), state_digest(state))
        rows.append((n, aggregate, state, previous))
    if checkpoint_at is not None:
        head = rows[checkpoint_at - 1][3].hex()
        at = "2026-01-01T00:01:00+00:00"
        signature = KEY.sign(checkpoint_message(TENANT, checkpoint_at, head, at))
        lines.append(encode(CheckpointLine(TENANT, checkpoint_at, head, at, signature, KEY.key_id)))
    for n, aggregate, state, digest in rows[:keep]:
        common = {"notification_id": n, "aggregate_id": aggregate, "aggregate_type": "Ticket", "version": n, "topic": TOPIC}
        common |= {"state_sha256": hashlib.sha256(state).hexdigest(), "hash": digest.hex()}
        extra = {"state": base64.b64encode(state).decode()} if stored else {"event": "StatusChanged", "fields": {"note": f"n{n}"}}
        lines.append(encode(EventLine(**common, **extra)))
    body = b"".join(line + b"\n" for line in lines)
    digest = hashlib.sha256(body).digest()
    return body + encode(SignatureLine(KEY.key_id, digest.hex(), KEY.sign(export_message(digest)))) + b"\n"


def verify(tmp_path: Path, data: bytes):
    path = tmp_path / "export.ndjson"
    path.write_bytes(data)
    return verify_export(path, KEY.verify_key)


@pytest.mark.parametrize("stored", [True, False])
def test_an_untouched_export_verifies(tmp_path, stored):
    report = verify(tmp_path, export_bytes(stored=stored))
    assert report.intact and report.events == 5 and report.checkpoints == 1, report.lines()
    assert "from the tenant's first event" in report.lines()[0]


def test_a_changed_event_is_named_and_the_signature_no_longer_matches(tmp_path):
    data = export_bytes()
    report = verify(
        tmp_path, data.replace(base64.b64encode(b"encrypted bytes of event 4"), base64.b64encode(b"encrypted bytes of event X"))
    )
    assert report.first_bad == 4 and any("signature does not match" in text for _, text in report.problems), report.lines()


def test_a_chain_that_does_not_reach_its_checkpoint_is_caught(tmp_path):
    data = export_bytes(checkpoint_at=3, keep=2)  # the checkpoint names an event the file left out
    report = verify(tmp_path, data)
    assert report.first_bad == 3 and "not in the file" in dict(report.problems)[3]


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: b"", "empty"),
        (lambda d: d.rsplit(b"\n", 2)[0] + b"\n", "no signature line"),
        (lambda d: d + b'{"kind":"event"}\n', "more after the signature"),
        (lambda d: b"not json\n" + d, "line 1"),
        (lambda d: d.split(b"\n", 1)[1], "first line must be the header"),
        (lambda d: d.replace(FORMAT.encode(), b"something-else/9"), "format"),
        (lambda d: d.replace(b'"version":2', b'"version":99999999999999999999999'), "line"),
        (lambda d: d.replace(b'"notification_id":2,', b'"notification_id":1,', 1), "line"),
        (lambda d: d.replace(b'"kind":"checkpoint"', b'"kind":"checkpoint","extra":1'), "line 2"),
        (lambda d: b"\xff\xfe" + d, "line 1"),
        (lambda d: b"[" * 100_000 + b"\n", "line 1"),
    ],
)
def test_a_malformed_file_is_reported_by_line_never_a_crash(tmp_path, change, says):
    report = verify(tmp_path, change(export_bytes()))
    assert not report.intact and says in " ".join(report.lines()), report.lines()


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_any_one_byte_changed_anywhere_fails_verification_without_an_error(tmp_path, position, value):
    data = bytearray(export_bytes(stored=False))
    position %= len(data)
    if data[position] == value:
        return
    data[position] = value
    assert not verify(tmp_path, bytes(data)).intact


def test_a_file_that_cannot_be_read_is_reported(tmp_path):
    report = verify_export(tmp_path / "missing.ndjson", KEY.verify_key)
    assert not report.intact and "cannot read" in report.lines()[0]


def test_the_audit_key_reads_as_base64_or_pem_and_nothing_else():
    private_pem = KEY.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert signing_key_from_text(private_pem).key_id == KEY.key_id
    assert verify_key_from_pem(KEY.verify_key.pem.encode()).key_id == KEY.key_id
    assert verify_key_from_pem(private_pem.encode()).key_id == KEY.key_id  # the private PEM gives its public half
    for bad in ("", "abc", base64.b64encode(b"x" * 31).decode(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"):
        with pytest.raises(BadKey):
            signing_key_from_text(bad)
    with pytest.raises(BadKey):
        verify_key_from_pem(b"\xff not a key")
    assert not KEY.verify_key.verifies(b"m", "not base64!") and not KEY.verify_key.verifies(b"m", base64.b64encode(b"x").decode())


def test_redacted_fields_and_their_changes_stay_redacted_and_empty_ones_stay_empty():
    fields = {"reporter_phone": "+27", "reporter_email": None, "title": "t", "changes": {"address": {"old": "a", "new": "b"}, "title": {}}}
    shown = redacted(fields, {"reporter_phone", "reporter_email", "address"})
    assert shown == {
        "reporter_phone": REDACTED,
        "reporter_email": None,
        "title": "t",
        "changes": {"address": {"old": REDACTED, "new": REDACTED}, "title": {}},
    }
    assert redacted(fields, ()) is fields
