"""Text PostgreSQL cannot store, and input that cannot be read, is refused at the edge with a 400
naming the field: in JSON bodies at any depth, query and path parameters, and multipart forms.
Nothing of it reaches the event store or a read model."""

from __future__ import annotations

import pytest

from tests.integration.http_helpers import TICKETS, history, open_ticket, refused

# What agents do here, not which tickets their reading reaches (see test_agent_scope.py).
pytestmark = pytest.mark.usefixtures("agents_see_all")

NUL = "\u0000"


def post_raw(client, url, raw: bytes, headers):
    return client.post(url, content=raw, headers={**headers, "Content-Type": "application/json"})


def test_a_reply_with_a_nul_is_400_naming_the_body_and_is_not_recorded(client, auth, projected):
    agent = auth("agent")
    tid = open_ticket(client, auth("manager"))["id"]
    response = client.post(f"{TICKETS}/{tid}/replies", json={"body": f"hi{NUL}"}, headers=agent)
    refused(response, 400, "invalid_input", "body")
    projected()
    assert [e["event"] for e in history(client, auth("manager"), tid)] == ["Opened"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": f"Pot{NUL}hole"}, "title"),
        ({"reporter": {"name": f"Ann{NUL}"}}, "reporter.name"),
        ({"tags": ["ok", f"b{NUL}d"]}, "tags[1]"),
        ({"custom_fields": {f"k{NUL}": "v"}}, "custom_fields"),
        ({"custom_fields": {"k": f"v{NUL}"}}, "custom_fields.k"),
    ],
)
def test_a_nul_anywhere_in_a_new_ticket_is_400_naming_its_field(client, auth, body, field):
    response = client.post(TICKETS, json={"title": "Pothole", "description": "Deep", "category": "roads", **body}, headers=auth())
    refused(response, 400, "invalid_input", field)


def test_an_escaped_lone_surrogate_in_a_body_is_400(client, auth):
    raw = b'{"title": "Pothole \\udc00", "description": "Deep", "category": "roads"}'
    refused(post_raw(client, TICKETS, raw, auth()), 400, "invalid_input", "body")


def test_an_escaped_surrogate_pair_is_an_ordinary_character(client, auth):
    raw = b'{"title": "Pothole \\ud83d\\udea7", "description": "Deep", "category": "roads"}'
    response = post_raw(client, TICKETS, raw, auth())
    assert response.status_code == 201, response.text


def test_a_body_that_is_not_utf8_is_400(client, auth):
    raw = '{"title": "Caf\u00e9", "description": "Deep", "category": "roads"}'.encode("latin-1")
    refused(post_raw(client, TICKETS, raw, auth()), 400, "invalid_input", "body")


def test_a_body_nested_thousands_of_levels_deep_is_400(client, auth):
    depth = 5000
    raw = b'{"title": "x", "description": "y", "category": "z", "custom_fields": ' + b"[" * depth + b"]" * depth + b"}"
    refused(post_raw(client, TICKETS, raw, auth()), 400, "invalid_input", "body")


def test_a_nul_in_a_query_parameter_is_400_naming_it(client, auth):
    refused(client.get(TICKETS, params={"q": f"pot{NUL}hole"}, headers=auth()), 400, "invalid_input", "q")
    refused(client.get(TICKETS, params={"ward": NUL}, headers=auth()), 400, "invalid_input", "ward")


def test_a_nul_in_a_path_parameter_is_400_naming_it(client, auth):
    refused(client.get("/api/v1/workflows/flow%00x", headers=auth("admin")), 400, "invalid_input", "name")


def multipart(filename: str, kind: str) -> bytes:
    """A form written out by hand: an HTTP client would percent-encode a NUL in a file name."""
    return (
        f'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
        f'--b\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
    ).encode()


def test_a_nul_in_a_multipart_file_name_or_value_is_400_naming_the_field(client, auth):
    tid = open_ticket(client, auth("manager"))["id"]
    url, headers = f"{TICKETS}/{tid}/attachments", {**auth("agent"), "Content-Type": "multipart/form-data; boundary=b"}
    refused(client.post(url, content=multipart(f"a{NUL}.txt", "ticket"), headers=headers), 400, "invalid_input", "file")
    refused(client.post(url, content=multipart("a.txt", f"ticket{NUL}"), headers=headers), 400, "invalid_input", "kind")
    assert client.post(url, content=multipart("a.txt", "ticket"), headers=headers).status_code == 201


@pytest.mark.parametrize("page", ["99999999999999999999", str(2**62), "1000000001"])
def test_a_page_beyond_any_row_is_400_naming_page(client, auth, page):
    refused(client.get(TICKETS, params={"page": page}, headers=auth()), 400, "invalid_input", "page")


def test_a_page_far_beyond_the_replies_is_400_naming_page(client, auth, projected):
    tid = open_ticket(client, auth("manager"))["id"]
    projected()
    response = client.get(f"{TICKETS}/{tid}/replies", params={"page": str(2**62)}, headers=auth())
    refused(response, 400, "invalid_input", "page")


def test_the_last_allowed_page_is_an_empty_page(client, auth):
    response = client.get(TICKETS, params={"page": "1000000000", "page_size": "200"}, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
