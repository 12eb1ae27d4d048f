"""Attachments: the content is stored once by its SHA-256, the ticket records `AttachmentAdded`."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import uuid4

import filetype

from commands.app import Docket
from commands.loading import load_ticket
from commands.runner import Unit
from commands.structs import AddAttachment, Attached
from commands.tickets import run_ticket_command
from domain.errors import Forbidden, Invalid, NotFound, TooLarge, UnsupportedType
from domain.permissions import Action, Role, require
from domain.ticket import Ticket

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TYPES = (
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
    "application/pdf", "text/plain", "text/csv",
)  # fmt: skip
# Text kinds have no signature: their content must be text, and not markup a browser would run.
TEXT_TYPES = ("text/plain", "text/csv")
# `<` then a letter, `!`, `?` or `/` at the start: HTML, SVG or XML (`<!DOCTYPE`, `<?xml`, `<svg`).
MARKUP_START = re.compile(rb"<[A-Za-z!?/]")


@dataclass(frozen=True)
class AttachmentRules:
    max_bytes: int = DEFAULT_MAX_BYTES
    content_types: tuple[str, ...] = DEFAULT_TYPES

    def check(self, content_type: str, content: bytes) -> None:
        if not content:
            raise Invalid("The file is empty.", code="empty_file", field="file")
        if len(content) > self.max_bytes:
            raise TooLarge(f"The file is {len(content)} bytes; at most {self.max_bytes} are accepted.", field="file")
        if content_type not in self.content_types:
            raise UnsupportedType(
                f"Files of type {content_type} are not accepted; accepted: {', '.join(self.content_types)}.", field="file"
            )
        if not content_matches(content_type, content):
            raise UnsupportedType(f"The file's content is not {content_type}, as its type claims.", field="file")


def content_matches(content_type: str, content: bytes) -> bool:
    """Whether the content is what its type claims. Binary kinds by their signature (filetype knows
    JPEG, PNG, GIF, WebP, HEIC, PDF); text must be UTF-8 without NUL, and not markup."""
    if content_type in TEXT_TYPES:
        return is_plain_text(content)
    return filetype.guess_mime(content) == content_type


def is_plain_text(content: bytes) -> bool:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    start = content.removeprefix(b"\xef\xbb\xbf").lstrip()[:64]
    return "\x00" not in text and not MARKUP_START.match(start)


class BlobStore(Protocol):
    """Where attachment content lives, addressed by its SHA-256: the same content is kept once."""

    def put(self, content: bytes) -> str: ...

    def read(self, digest: str) -> bytes: ...


class FileBlobStore:
    """Content-addressed files under one directory (by default `<data dir>/attachments`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        path = self.path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, path)  # atomic: a reader never sees half a file
        return digest

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise _missing(digest) from None


class S3BlobStore:
    """Content-addressed objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "attachments/") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        # Objects appear whole or not at all, and the same key always holds the same bytes.
        self.client.put_object(Bucket=self.bucket, Key=self.key(digest), Body=content, ChecksumAlgorithm="SHA256")
        return digest

    def key(self, digest: str) -> str:
        return f"{self.prefix}{digest[:2]}/{digest}"

    def read(self, digest: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(digest))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise _missing(digest) from None


def _missing(digest: str) -> NotFound:
    return NotFound(f"The content {digest} is missing from the attachment store.", code="content_missing")


def add_attachment(app: Docket, blobs: BlobStore, rules: AttachmentRules, cmd: AddAttachment) -> Attached:
    """Checks the caller may attach and the ticket takes it before storing anything, then stores the content, then records it."""
    load_ticket(app.repository, cmd.ticket_id).ensure_visible_to(cmd.actor)
    require(cmd.actor, Action.ATTACH)
    if cmd.kind == "completion" and cmd.actor.role is Role.REPORTER:
        # Completion evidence is the field worker's: a reporter's photo would pass for proof of the work.
        raise Forbidden("A reporter cannot add a completion attachment; send kind 'ticket'.", field="kind")
    rules.check(cmd.content_type, cmd.content)
    name = Path(cmd.name).name.strip() or "attachment"
    digest = hashlib.sha256(cmd.content).hexdigest()
    attachment_id = uuid4()

    def attach(ticket: Ticket, _: Unit) -> None:
        ticket.attach(
            cmd.actor, attachment_id, sha256=digest, name=name, content_type=cmd.content_type, size=len(cmd.content), kind=cmd.kind
        )
        blobs.put(cmd.content)  # only once the ticket took it (not archived, say): a refused upload leaves nothing behind

    def attached(ticket: Ticket, notification_id: int | None) -> Attached:
        log.info(
            "ticket %s: attachment %s (%s, %s bytes) by %s", ticket.id, attachment_id, cmd.content_type, len(cmd.content), cmd.actor.id
        )
        return Attached(
            id=attachment_id,
            ticket_id=ticket.id,
            sha256=digest,
            name=name,
            content_type=cmd.content_type,
            size=len(cmd.content),
            kind=cmd.kind,
            version=ticket.version,
            notification_id=notification_id,
        )

    return run_ticket_command(app, cmd, attach, attached)
