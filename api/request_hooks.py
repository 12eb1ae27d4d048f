"""What every request passes before its handler, and what every command's answer carries after it.

Before: text that cannot be stored is refused (api/storable.py), then a query parameter the
endpoint does not know (api/strict_queries.py), then a read waits for the position it asks for
(api/consistency.py). After: a command's answer carries `Docket-Position: <notification id>`, so
a client can pass it on as `Docket-After` without reading the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, OpenAPIType, Operation, Parameter, Schema

from api.consistency import AFTER, AFTER_HEADER, POSITION_HEADER, read_models_of, wait_for_read_models
from api.services import Services
from api.storable import refuse_unstorable_parameters
from api.strict_queries import unknown_query_parameter

Hook = Callable[[Request], Awaitable[Response | None]]


def before_handling(services: Services) -> Hook:
    """The app's before_request hook (Litestar takes one): each check in turn; a Response ends the request."""

    async def checked(request: Request) -> Response | None:
        await refuse_unstorable_parameters(request)
        if (refused := unknown_query_parameter(request)) is not None:
            return refused
        return await wait_for_read_models(request, services)

    return checked


async def with_position(response: Response) -> Response:
    """The app's after_request hook: a command's notification id as a header too."""
    position = notification_id_of(getattr(response, "content", None))  # a file's answer has no content to look in
    if position is not None:
        response.headers[POSITION_HEADER] = str(position)
    return response


def notification_id_of(content: Any) -> int | None:
    if isinstance(content, msgspec.Struct):
        value = getattr(content, "notification_id", None)
    elif isinstance(content, dict):
        value = content.get("notification_id")
    else:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def document_consistency(app: Litestar) -> None:
    """Adds to the OpenAPI document what the hooks do for every endpoint: `after` and `Docket-After`
    on the reads, `Docket-Position` on the answers that carry a notification id."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            reads = (
                "GET" in handler.http_methods and bool(read_models_of(route.path)) and AFTER not in handler.parsed_fn_signature.parameters
            )
            answers_position = _returns_notification_id(handler)
            if reads or answers_position:
                handler.operation_class = _operation_class(reads, answers_position)


def _returns_notification_id(handler: HTTPRouteHandler) -> bool:
    returned = handler.parsed_fn_signature.return_type.annotation
    return isinstance(returned, type) and issubclass(returned, msgspec.Struct) and "notification_id" in returned.__struct_fields__


POSITION = Schema(type=OpenAPIType.INTEGER, minimum=0)


def _operation_class(reads: bool, answers_position: bool) -> type[Operation]:
    @dataclass
    class Consistent(Operation):
        def __post_init__(self) -> None:
            if reads:
                self.parameters = [*(self.parameters or []), *_after_parameters()]
            if answers_position:
                for status, response in (self.responses or {}).items():
                    if status.startswith("2") and isinstance(response, OpenAPIResponse):
                        response.headers = {**(response.headers or {}), POSITION_HEADER: _position_header()}

    return Consistent


def _after_parameters() -> list[Parameter]:
    wait = "then 503 with Retry-After (bounded by DOCKET_READ_WAIT, default 5 s)"
    return [
        Parameter(
            name=AFTER,
            param_in="query",
            required=False,
            schema=POSITION,
            description=f"Answer once the read models have applied this event (a command's notification_id); {wait}",
        ),
        Parameter(
            name=AFTER_HEADER,
            param_in="header",
            required=False,
            schema=POSITION,
            description=f"As `after`: a command's Docket-Position passed on; {wait}",
        ),
    ]


def _position_header() -> OpenAPIHeader:
    return OpenAPIHeader(schema=POSITION, description="The notification id of the event this command recorded; pass it as Docket-After")
