"""Both attachment stores keep content by its hash: the data dir and S3-compatible storage
(here a real S3 API served over HTTP by moto's server, as MinIO would serve it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from commands.attachments import FileBlobStore, S3BlobStore
from domain.errors import NotFound
from workers.bootstrap import blob_store
from workers.embedded import free_port
from workers.settings import load_settings

BUCKET = "docket-attachments"
CREDENTIALS = {"DOCKET_S3_ACCESS_KEY_ID": "docket", "DOCKET_S3_SECRET_ACCESS_KEY": "docket-secret", "DOCKET_S3_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="docket", aws_secret_access_key="docket-secret"
    ).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@pytest.fixture(params=["data_dir", "s3"])
def store(request, tmp_path):
    env = {"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_SECRET": "s", "DOCKET_CIPHER_KEY": "k"}
    if request.param == "s3":
        env |= {"DOCKET_S3_BUCKET": BUCKET, "DOCKET_S3_ENDPOINT_URL": request.getfixturevalue("s3_url"), **CREDENTIALS}
    return blob_store(load_settings(env))


def test_the_settings_choose_the_store(store, request):
    expected = S3BlobStore if "s3" in request.node.callspec.id else FileBlobStore
    assert isinstance(store, expected)


def test_content_comes_back_byte_for_byte_under_its_sha256(store):
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    digest = store.put(photo)
    assert digest == hashlib.sha256(photo).hexdigest()
    assert store.read(digest) == photo


def test_the_same_content_twice_is_kept_once(store, tmp_path):
    first, second = store.put(b"%PDF-1.7 same"), store.put(b"%PDF-1.7 same")
    assert first == second
    if isinstance(store, FileBlobStore):
        assert [p.name for p in (tmp_path / "attachments").rglob("*") if p.is_file()] == [first]


def test_missing_content_is_a_clear_not_found(store):
    with pytest.raises(NotFound) as missing:
        store.read("0" * 64)
    assert missing.value.code == "content_missing"
