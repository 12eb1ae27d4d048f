"""An upload's content must be what its declared type says, checked by its signature (the
`filetype` library) for images and PDF, and as UTF-8 text that is not markup for text and CSV: a
page a browser would run never passes for a photo or a note. Completion evidence is not a reporter's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.auth import TokenVerifier
from api.services import Services
from commands.attachments import DEFAULT_TYPES, AttachmentRules, FileBlobStore
from tests.conftest import JWT_SECRET
from tests.integration.http_helpers import TICKETS, open_ticket, refused

SAMPLES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64),
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    "image/gif": b"GIF89a" + bytes(64),
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64),
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
    "application/pdf": b"%PDF-1.7\n" + bytes(64),
    "text/plain": "Depth 12 cm, café on the corner\n".encode(),
    "text/csv": b"\xef\xbb\xbfstreet,depth\nOak Rd,12\n",
}
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


@pytest.fixture(scope="module")
def client(app, engine, tmp_path_factory) -> Iterator[TestClient]:
    rules = AttachmentRules(content_types=DEFAULT_TYPES)
    blobs = FileBlobStore(tmp_path_factory.mktemp("content-blobs"))
    with TestClient(
        create_app(Services(app=app, engine=engine, tokens=TokenVerifier(JWT_SECRET), blobs=blobs, attachment_rules=rules))
    ) as c:
        yield c


def upload(client, headers, ticket_id, content, content_type, name="file", **form):
    files = {"file": (name, content, content_type)}
    return client.post(f"{TICKETS}/{ticket_id}/attachments", files=files, data=form or None, headers=headers)


@pytest.mark.parametrize("content_type", DEFAULT_TYPES)
def test_content_of_every_accepted_type_is_accepted_when_it_is_what_it_claims(client, auth, content_type):
    tid = open_ticket(client, auth("reporter"))["id"]
    response = upload(client, auth("reporter"), tid, SAMPLES[content_type], content_type)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (HTML, "image/webp"),
        (SVG, "image/heic"),
        (HTML, "image/gif"),
        (SAMPLES["image/png"], "image/webp"),
        (SAMPLES["image/webp"], "image/heic"),
        (HTML, "text/plain"),
        (b"  \n" + SVG, "text/plain"),
        (b'<?xml version="1.0"?><svg/>', "text/csv"),
        (b"\xef\xbb\xbf<html><script>x</script></html>", "text/csv"),
        (b"name,depth\nOak\x00,12\n", "text/csv"),
        (b"caf\xe9\n", "text/plain"),
        (SAMPLES["image/png"], "text/plain"),
    ],
)
def test_content_that_is_not_what_its_type_claims_is_415(client, auth, content, content_type):
    tid = open_ticket(client, auth("reporter"))["id"]
    body = refused(upload(client, auth("reporter"), tid, content, content_type), 415, "unsupported_media_type", "file")
    assert f"is not {content_type}" in body["message"]


def test_a_reporter_cannot_upload_completion_evidence(client, auth, app):
    reporter = auth("reporter", "citizen-9")
    tid = open_ticket(client, reporter)["id"]
    before = app.recorder.max_notification_id()
    refused(upload(client, reporter, tid, SAMPLES["image/jpeg"], "image/jpeg", kind="completion"), 403, "forbidden", "kind")
    assert app.recorder.max_notification_id() == before
    assert upload(client, reporter, tid, SAMPLES["image/jpeg"], "image/jpeg", kind="ticket").status_code == 201
