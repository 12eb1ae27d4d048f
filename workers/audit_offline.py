"""`docket audit verify --file t.ndjson --public-key key.pem`: an export checked with nothing but
the file and the audit key's public half, on any machine.

It reads the file a line at a time (constant memory, whatever its size), and checks: every line is
one the format knows, with values of the right kind; the chain, recomputed from the header's
previous hash through every event (and, in a `--stored` export, each event's bytes against its
SHA-256); every checkpoint, signed by this key and matching the chain where it stands; and the
last line's signature over every byte before it. Nothing in the file can make it fail other than
by reporting what is wrong: a malformed file is a problem named by its line, not a crash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from domain.audit_chain import checkpoint_message, export_message, genesis, link, state_digest
from domain.audit_keys import VerifyKey
from workers.audit_export import FORMAT, CheckpointLine, EventLine, Header, Line, SignatureLine
from workers.audit_verify import Report

MAX_LINE = 64 * 1024 * 1024  # a longer line is not one Docket writes
_decode = msgspec.json.Decoder(Header | CheckpointLine | EventLine | SignatureLine).decode


class Malformed(Exception):
    def __init__(self, line: int, text: str) -> None:
        super().__init__(f"line {line}: {text}")
        self.line = line


def verify_export(path: Path, key: VerifyKey) -> Report:
    report = Report()
    began = time.perf_counter()
    try:
        with open(path, "rb") as f:
            _verify_lines(f, key, report)
    except Malformed as error:
        report.problem(0, f"malformed export, {error}")
    except OSError as error:
        report.problem(0, f"cannot read {path}: {error.strerror or error}")
    except (ValueError, OverflowError, RecursionError) as error:  # whatever a hostile file finds: reported, never raised
        report.problem(0, f"malformed export: {type(error).__name__}: {error}")
    report.seconds = time.perf_counter() - began
    return report


def _lines(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, data in enumerate(iter(lambda: f.readline(MAX_LINE + 1), b""), start=1):
        if len(data) > MAX_LINE:
            raise Malformed(number, f"longer than {MAX_LINE} bytes")
        yield number, data


def _verify_lines(f: IO[bytes], key: VerifyKey, report: Report) -> None:
    digest = hashlib.sha256()
    header: Header | None = None
    signature: tuple[int, SignatureLine] | None = None
    previous = b""
    last_id = 0
    waiting: dict[int, CheckpointLine] = {}  # checkpoints still to meet their event
    for number, data in _lines(f):
        if signature is not None:
            raise Malformed(number, "there is more after the signature line")
        line = _parse(number, data)
        if header is None:
            if not isinstance(line, Header):
                raise Malformed(number, "the first line must be the header")
            header, previous = _start(number, line, report), bytes.fromhex(line.previous_hash)
        elif isinstance(line, Header):
            raise Malformed(number, "a second header")
        elif isinstance(line, CheckpointLine):
            if last_id:
                raise Malformed(number, "checkpoints come before the events")
            _check_checkpoint(line, header, key, waiting, report)
        elif isinstance(line, EventLine):
            if line.notification_id <= last_id:
                raise Malformed(number, f"notification {line.notification_id} is not after {last_id}")
            previous, last_id = _check_event(number, line, header, previous, waiting, report), line.notification_id
        else:
            signature = (number, line)
            if msgspec.json.encode(line) + b"\n" != data:  # every byte of it counts, though it signs only those before
                report.problem(0, f"line {number}: the signature line is not as Docket writes it: it was changed")
            continue  # the signature line is not part of what it signs
        digest.update(data)
    if header is None:
        raise Malformed(0, "the file is empty")
    if signature is None:
        raise Malformed(0, "no signature line at the end: the file was cut short, or never signed")
    for notification_id, checkpoint in waiting.items():
        report.problem(notification_id, f"the checkpoint signed at {checkpoint.at} names an event that is not in the file")
    number, line = signature
    if line.sha256 != digest.hexdigest():
        report.problem(0, f"line {number}: the SHA-256 it names is not the file's: something before it was changed")
    if line.key_id != key.key_id:
        report.problem(0, f"line {number}: the file is signed by key {line.key_id}, not by this key ({key.key_id})")
    elif not key.verifies(export_message(digest.digest()), line.signature):
        report.problem(0, f"line {number}: the signature does not match the file: something before it was changed")


def _parse(number: int, data: bytes) -> Line:
    try:
        return _decode(data)
    except (msgspec.DecodeError, ValueError) as error:  # ValueError: bytes that are not UTF-8, among others
        raise Malformed(number, str(error)) from None


def _start(number: int, header: Header, report: Report) -> Header:
    if header.format != FORMAT:
        raise Malformed(number, f"format {header.format!r}; this verifier reads {FORMAT}")
    report.tenants.add(header.tenant)
    start = "from the tenant's first event" if header.previous_hash == genesis(header.tenant).hex() else "from within the chain"
    report.notes.append(f"export of {header.tenant} ({'as stored' if header.stored else 'decrypted'}), {start}")
    return header


def _check_checkpoint(line: CheckpointLine, header: Header, key: VerifyKey, waiting: dict[int, CheckpointLine], report: Report) -> None:
    n = line.notification_id
    if line.tenant != header.tenant:
        report.problem(n, f"a checkpoint of {line.tenant} in an export of {header.tenant}")
    elif line.key_id != key.key_id:
        report.problem(n, f"the checkpoint signed at {line.at} names key {line.key_id}, not this key ({key.key_id})")
    elif not key.verifies(checkpoint_message(line.tenant, n, line.hash, line.at), line.signature):
        report.problem(n, f"the checkpoint signed at {line.at} has a signature this key did not make")
    else:
        waiting[n] = line


def _check_event(
    number: int, line: EventLine, header: Header, previous: bytes, waiting: dict[int, CheckpointLine], report: Report
) -> bytes:
    """The chain hash after this event, as recomputed; a mismatch is reported and the file's hash
    taken from here on, so that one change is reported once."""
    n = line.notification_id
    report.events += 1
    if header.stored:
        digest = _stored_digest(number, line, report)
    else:
        digest = bytes.fromhex(line.state_sha256)
    try:
        computed = link(previous, n, line.aggregate_id.bytes, line.version, line.topic.encode(), digest)
    except UnicodeEncodeError:
        raise Malformed(number, "the topic is not text that UTF-8 can hold") from None
    recorded = bytes.fromhex(line.hash)
    if computed != recorded:
        report.problem(n, "the event does not give its chain hash: it, or an event before it, was changed")
        computed = recorded
    checkpoint = waiting.pop(n, None)
    if checkpoint is not None:
        report.checkpoints += 1
        if checkpoint.hash != computed.hex():
            report.problem(n, f"the chain does not match the checkpoint signed at {checkpoint.at}")
    return computed


def _stored_digest(number: int, line: EventLine, report: Report) -> bytes:
    if line.state is None:
        raise Malformed(number, "an export as stored must carry each event's state")
    try:
        state = base64.b64decode(line.state, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(number, "state is not base64") from None
    if base64.b64encode(state).decode() != line.state:
        raise Malformed(number, "state is not base64 as Docket writes it (altered padding bits)")
    digest = state_digest(state)
    if digest.hex() != line.state_sha256:
        report.problem(line.notification_id, "the stored bytes do not give their SHA-256: they were changed")
    return bytes.fromhex(line.state_sha256)
