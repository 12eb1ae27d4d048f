"""Attachments through HTTP: multipart upload, listing, download of the same bytes, the size and
type limits the API is given (services.attachment_rules), and who may see or add them.

The API here is built with small limits and its own blob store, so that the limits are cheap to
cross and the store can be checked for what a refused upload left behind."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import MULTIPART_OVERHEAD, create_app
from api.auth import TokenVerifier
from api.services import Services
from commands.attachments import AttachmentRules, FileBlobStore
from tests.conftest import JWT_SECRET
from tests.integration.http_helpers import TICKETS, detail, history, move, open_ticket, refused, to_crew

# What agents do here, not which tickets their reading reaches (see test_agent_scope.py).
pytestmark = pytest.mark.usefixtures("agents_see_all")

MAX_BYTES = 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + b"JFIF" + bytes(200)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> FileBlobStore:
    return FileBlobStore(tmp_path_factory.mktemp("attachment-blobs"))


@pytest.fixture(scope="module")
def client(app, engine, blobs) -> Iterator[TestClient]:
    rules = AttachmentRules(max_bytes=MAX_BYTES, content_types=("image/png", "image/jpeg", "text/plain", "application/pdf"))
    services = Services(app=app, engine=engine, tokens=TokenVerifier(JWT_SECRET), blobs=blobs, attachment_rules=rules)
    with TestClient(create_app(services)) as test_client:
        yield test_client


def stored(blobs: FileBlobStore) -> set[str]:
    return {path.name for path in blobs.root.rglob("*") if path.is_file()}


def attachments_url(ticket_id: str) -> str:
    return f"{TICKETS}/{ticket_id}/attachments"


def upload(client, headers, ticket_id, name, content, content_type, **form):
    files = {"file": (name, content, content_type)}
    return client.post(attachments_url(ticket_id), files=files, data=form or None, headers=headers)


def test_an_upload_is_listed_downloaded_byte_for_byte_and_recorded_in_the_history(client, auth, projected):
    citizen = auth("reporter", "citizen-1")
    tid = open_ticket(client, citizen)["id"]
    added = upload(client, citizen, tid, "pothole.png", PNG, "image/png")
    assert added.status_code == 201, added.text
    photo = added.json()
    assert (photo["ticket_id"], photo["name"], photo["content_type"], photo["size"], photo["kind"]) == (
        tid,
        "pothole.png",
        "image/png",
        len(PNG),
        "ticket",
    )
    notes = upload(client, auth("agent", "agent-2"), tid, "survey notes.txt", b"Depth 12 cm\n", "text/plain", kind="completion")
    assert notes.status_code == 201, notes.text
    projected()

    listed = client.get(attachments_url(tid), headers=citizen)
    assert listed.status_code == 200, listed.text
    assert [(a["id"], a["name"], a["kind"], a["added_by"]) for a in listed.json()] == [
        (photo["id"], "pothole.png", "ticket", "citizen-1"), (notes.json()["id"], "survey notes.txt", "completion", "agent-2"),
    ]  # fmt: skip
    download = client.get(f"{attachments_url(tid)}/{photo['id']}", headers=auth("manager"))
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert 'filename="pothole.png"' in download.headers["content-disposition"]
    text = client.get(f"{attachments_url(tid)}/{notes.json()['id']}", headers=citizen)
    assert text.content == b"Depth 12 cm\n" and text.headers["content-type"].startswith("text/plain")

    assert detail(client, citizen, tid)["attachment_count"] == 2
    added_entries = [e for e in history(client, citizen, tid) if e["event"] == "AttachmentAdded"]
    assert [e["changes"]["attachment"]["new"] for e in added_entries] == [
        {"id": photo["id"], "name": "pothole.png", "kind": "ticket"},
        {"id": notes.json()["id"], "name": "survey notes.txt", "kind": "completion"},
    ]
    assert [e["actor"] for e in added_entries] == ["citizen-1", "agent-2"]


def test_a_technician_attaches_a_completion_photo_to_a_field_service_job(client, auth, projected):
    technician = auth("agent", "tech-1")
    tid = open_ticket(client, auth("reporter", "sub-1"), workflow="field_service")["id"]
    to_crew(client, auth("admin"), tid, "tech-1")
    move(client, auth("manager"), tid, "assigned", assignee_id="tech-1")
    move(client, technician, tid, "in_progress")
    photo = upload(client, technician, tid, "after.jpg", JPEG, "image/jpeg", kind="completion")
    assert photo.status_code == 201, photo.text
    move(client, technician, tid, "completed", completion_notes="Cable replaced, see photo")
    projected()
    [listed] = client.get(attachments_url(tid), headers=auth("reporter", "sub-1")).json()
    assert (listed["kind"], listed["content_type"], listed["added_by"]) == ("completion", "image/jpeg", "tech-1")


def test_a_file_over_the_size_limit_is_413_and_nothing_is_kept(client, auth, app, blobs):
    tid = open_ticket(client, auth("reporter"))["id"]
    before, kept = app.recorder.max_notification_id(), stored(blobs)
    body = refused(upload(client, auth("reporter"), tid, "big.txt", b"x" * (MAX_BYTES + 1), "text/plain"), 413, "too_large", "file")
    assert str(MAX_BYTES) in body["message"]
    assert upload(client, auth("reporter"), tid, "exact.txt", b"x" * MAX_BYTES, "text/plain").status_code == 201
    beyond = upload(client, auth("reporter"), tid, "huge.txt", b"x" * (MAX_BYTES + MULTIPART_OVERHEAD + 1), "text/plain")
    refused(beyond, 413, "too_large")
    assert app.recorder.max_notification_id() == before + 1
    assert stored(blobs) - kept == {hashlib.sha256(b"x" * MAX_BYTES).hexdigest()}  # only the file within the limit


@pytest.mark.parametrize(
    ("name", "content", "content_type", "said"),
    [
        ("setup.exe", b"MZ\x90\x00", "application/x-msdownload", "application/x-msdownload"),
        ("page.html", b"<script>alert(1)</script>", "text/html", "text/html"),
        ("fake.png", b"<svg onload=alert(1)>", "image/png", "is not image/png"),
        ("fake.jpg", PNG, "image/jpeg", "is not image/jpeg"),
        ("fake.pdf", b"hello", "application/pdf", "is not application/pdf"),
    ],
)
def test_a_disallowed_type_or_content_that_is_not_what_it_claims_is_415_and_nothing_is_kept(
    client, auth, app, blobs, name, content, content_type, said
):
    tid = open_ticket(client, auth("reporter"))["id"]
    before, kept = app.recorder.max_notification_id(), stored(blobs)
    body = refused(upload(client, auth("reporter"), tid, name, content, content_type), 415, "unsupported_media_type", "file")
    assert said in body["message"]
    assert (app.recorder.max_notification_id(), stored(blobs)) == (before, kept)


def test_bad_upload_forms_are_400_naming_the_field(client, auth, app):
    tid = open_ticket(client, auth("reporter"))["id"]
    before = app.recorder.max_notification_id()
    refused(upload(client, auth("reporter"), tid, "a.txt", b"hi", "text/plain", kind="selfie"), 400, "invalid_input", "kind")
    refused(upload(client, auth("reporter"), tid, "empty.txt", b"", "text/plain"), 400, "empty_file", "file")
    missing = client.post(
        attachments_url(tid), data={"kind": "ticket"}, files={"other": ("a.txt", b"hi", "text/plain")}, headers=auth("reporter")
    )
    refused(missing, 400, "invalid_input", "file")
    assert app.recorder.max_notification_id() == before


def test_a_file_name_is_kept_without_any_path(client, auth, projected):
    tid = open_ticket(client, auth("reporter"))["id"]
    added = upload(client, auth("reporter"), tid, "../../etc/passwd.txt", b"root", "text/plain")
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "passwd.txt"
    named = upload(client, auth("reporter"), tid, "fotó 1.png", PNG, "image/png").json()
    projected()
    download = client.get(f"{attachments_url(tid)}/{named['id']}", headers=auth("reporter"))
    assert "filename*=UTF-8''fot%C3%B3%201.png" in download.headers["content-disposition"]


def test_a_refused_upload_stores_no_content(client, auth, app, blobs):
    """A caller the ticket refuses (a ward councillor may not attach; an archived ticket takes
    nothing) must not leave the file behind in the store."""
    tid = open_ticket(client, auth("reporter"), ward="w1")["id"]
    archived = open_ticket(client, auth("reporter"), ward="w1")["id"]
    assert client.delete(f"{TICKETS}/{archived}", headers=auth("manager")).status_code == 200
    before, kept = app.recorder.max_notification_id(), stored(blobs)
    councillor = auth("ward_councillor", "cllr-1", ward="w1")
    refused(upload(client, councillor, tid, "c.txt", b"councillor's unique file", "text/plain"), 403, "role_not_allowed")
    refused(upload(client, auth("reporter"), archived, "late.txt", b"uploaded after archiving", "text/plain"), 409, "archived")
    assert app.recorder.max_notification_id() == before
    assert stored(blobs) == kept


def test_a_sensitive_tickets_attachments_are_refused_to_a_manager(client, auth, projected):
    survivor = auth("reporter", "survivor")
    tid = open_ticket(client, survivor, title="Private", is_sensitive=True)["id"]
    evidence = upload(client, survivor, tid, "evidence.jpg", JPEG, "image/jpeg").json()
    projected()
    manager = auth("manager")
    listed = client.get(attachments_url(tid), headers=manager)
    refused(listed, 403, "restricted_ticket")
    assert "evidence" not in listed.text
    refused(client.get(f"{attachments_url(tid)}/{evidence['id']}", headers=manager), 403, "restricted_ticket")
    refused(upload(client, manager, tid, "x.txt", b"x", "text/plain"), 403, "restricted_ticket")
    for role in ("liaison", "admin"):
        assert [a["id"] for a in client.get(attachments_url(tid), headers=auth(role)).json()] == [evidence["id"]]
        assert client.get(f"{attachments_url(tid)}/{evidence['id']}", headers=auth(role)).content == JPEG


def test_attachments_of_another_reporter_or_tenant_or_ticket_are_not_found(client, auth, projected, tenant):
    tid = open_ticket(client, auth("reporter", "citizen-1"))["id"]
    other = open_ticket(client, auth("reporter", "citizen-1"))["id"]
    photo = upload(client, auth("reporter", "citizen-1"), tid, "p.png", PNG, "image/png").json()
    projected()
    for outsider in (auth("reporter", "citizen-2"), auth("admin", tenant_=tenant + "x")):
        refused(client.get(attachments_url(tid), headers=outsider), 404, "ticket_not_found")
        refused(client.get(f"{attachments_url(tid)}/{photo['id']}", headers=outsider), 404, "ticket_not_found")
        refused(upload(client, outsider, tid, "x.txt", b"x", "text/plain"), 404, "ticket_not_found")
    refused(client.get(f"{attachments_url(other)}/{photo['id']}", headers=auth("admin")), 404, "attachment_not_found")
    refused(client.get(f"{attachments_url(tid)}/{uuid.uuid4()}", headers=auth("admin")), 404, "attachment_not_found")
    refused(client.get(attachments_url(str(uuid.uuid4())), headers=auth("admin")), 404, "ticket_not_found")
