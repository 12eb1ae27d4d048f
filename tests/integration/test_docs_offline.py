"""The API documentation page works on a network without the internet: everything it loads is
served by Docket itself, and no font comes from a font service."""

from __future__ import annotations

import re
from pathlib import Path

import api

REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def test_the_docs_page_references_only_same_origin_assets_and_each_answers_200(client):
    page = client.get("/schema")
    assert page.status_code == 200, page.text
    urls = REFERENCES.findall(page.text)
    assert len(urls) >= 4, urls  # the Swagger UI bundle, its preset, its styles and the icon
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assert "fonts.googleapis" not in page.text and "fonts.gstatic" not in page.text


def test_the_vendored_docs_assets_keep_their_licence_and_fetch_no_fonts():
    folder = Path(api.__file__).parent / "static" / "swagger-ui"
    assert "Apache License" in (folder / "LICENSE").read_text()
    for asset in folder.glob("*.css"):
        assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", asset.read_text()), asset


def test_the_operations_page_is_served_only_with_its_security_headers(client):
    """Its HTML is the one file of api/static no asset route serves (it would go without its
    Content-Security-Policy there); at / it carries the policy."""
    for url in ("/schema/assets/ops.html", "/ops/assets/ops.html", "/schema/assets/README.md"):
        assert client.get(url).status_code == 404, url
    page = client.get("/ops")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
