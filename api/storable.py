"""Text PostgreSQL cannot store is refused where it enters, once for every endpoint.

A NUL or an unpaired UTF-16 surrogate in a text column makes PostgreSQL fail the write: for a
projection that is an event it can never apply. So every text that reaches a handler (query and
path parameters, JSON bodies at any depth, keys included, and multipart values and file names)
is checked here before the handler runs, and answered 400 naming the field.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# JSON can only carry a NUL or a surrogate as a \u escape (msgspec refuses raw control characters
# and invalid UTF-8), so a body without one is skipped without walking what it decoded to.
ESCAPED_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
WHAT = "a character that cannot be stored (NUL or an unpaired UTF-16 surrogate)"


def is_storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


def refuse(field: str, message: str) -> ValidationException:
    return ValidationException(message, extra=[{"key": field, "message": message}])


def unstorable_field(value: Any, field: str = "body") -> str | None:
    """The dotted path of the first text in a decoded JSON value that cannot be stored, if any.
    A bad key names the object that holds it. Iterative: a deep value must not hit the recursion limit."""
    pending = [(value, field)]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if not is_storable(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not is_storable(key):
                    return path
                pending.append((child, key if path == "body" else f"{path}.{key}"))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{index}]") for index, child in enumerate(item))
    return None


def check_json_body(body: bytes, decoded: Any) -> None:
    if ESCAPED_UNSTORABLE.search(body) and (field := unstorable_field(decoded)):
        raise refuse(field, f"The value holds {WHAT}.")


def check_form(form: FormMultiDict) -> None:
    for name, value in form.multi_items():
        if not is_storable(name):
            raise refuse("body", f"A form field's name holds {WHAT}.")
        if isinstance(value, UploadFile):
            if not is_storable(value.filename or ""):
                raise refuse(name, f"The file name holds {WHAT}.")
        elif isinstance(value, str) and not is_storable(value):
            raise refuse(name, f"The value holds {WHAT}.")


class DocketRequest(Request):
    """Decodes bodies as Litestar does, but answers 400 for what cannot be decoded or stored.
    Litestar decodes a JSON body with `json()`; a form is read through `form()` by the hook below."""

    async def json(self) -> Any:
        body = await self.body()
        try:
            decoded = await super().json()
        except (SerializationException, UnicodeDecodeError) as error:  # Litestar lets UTF-8 errors out as 500s
            raise refuse("body", f"The body is not UTF-8 encoded JSON: {_reason(error)}.") from None
        except RecursionError:
            raise refuse("body", "The body nests too deeply to be read.") from None
        check_json_body(body, decoded)
        return decoded

    async def form(self) -> FormMultiDict:
        form = await super().form()
        check_form(form)
        return form


def _reason(error: Exception) -> str:
    return "it is not UTF-8" if isinstance(error, UnicodeDecodeError) else str(error)


async def refuse_unstorable_parameters(request: Request) -> None:
    """The app's before_request hook: query and path parameters, and a form the handler takes,
    before the handler's arguments are parsed. Litestar reads a form parsed here, not a second time."""
    if takes_form(request.route_handler):
        await request.form()
    if not plainly_storable(request.scope["query_string"]):
        for name, value in request.query_params.multi_items():
            if not is_storable(name):
                raise refuse("query", f"A query parameter's name holds {WHAT}.")
            if not is_storable(value):
                raise refuse(name, f"The query parameter holds {WHAT}.")
    if is_storable(request.scope["path"]):  # every path parameter is a part of it
        return
    for name, value in request.path_params.items():
        if isinstance(value, str) and not is_storable(value):
            raise refuse(name, f"The path parameter holds {WHAT}.")


def plainly_storable(query: bytes) -> bool:
    """A query string of ASCII without a NUL or a %-escape decodes to text that can be stored,
    without decoding it (most do: `page_size=20`)."""
    return query.isascii() and b"%" not in query and b"\x00" not in query


@functools.cache  # a route's handler, for ever
def takes_form(handler: HTTPRouteHandler) -> bool:
    data = handler.parsed_fn_signature.parameters.get("data")
    body = data.kwarg_definition if data else None
    return isinstance(body, BodyKwarg) and body.media_type in (RequestEncodingType.MULTI_PART, RequestEncodingType.URL_ENCODED)
