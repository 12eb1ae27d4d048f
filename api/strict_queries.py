"""Strict queries: a query parameter no endpoint knows is a 400 naming it, not a filter silently
ignored (`search=zebra` answering every ticket lets an operator believe the list was filtered).

The parameters an endpoint knows are those Litestar parses for it (its own, its dependencies',
its layers'), plus `after` on the reads that wait for their read models (api/consistency.py).
Where a known one is close, the message names it: `did you mean 'order'?`.
"""

from __future__ import annotations

import difflib
from functools import cache

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from api.consistency import AFTER, waits_on
from api.errors import error_response


def unknown_query_parameter(request: Request) -> Response | None:
    """A 400 for the first query parameter the endpoint does not know, or None when all are known."""
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return None
    known = known_query_parameters(handler, frozenset(request.path_params))
    if waits_on(request):
        known = known | {AFTER}
    for name in request.query_params:
        if name not in known:
            return error_response(400, "unknown_parameter", unknown_message(name, known), field=name)
    return None


def unknown_message(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; this endpoint takes {', '.join(sorted(known))}" if known else ""
    taken = "" if known else "; this endpoint takes no query parameters"
    return f"unknown query parameter '{name}'{hint}{taken}"


@cache
def known_query_parameters(handler: HTTPRouteHandler, path_parameters: frozenset[str]) -> frozenset[str]:
    """The query parameters Litestar parses for this handler, by the names a client sends."""
    model = handler.create_kwargs_model(path_parameters=dict.fromkeys(path_parameters))  # type: ignore[arg-type]
    return frozenset(parameter.field_alias for parameter in model.expected_query_params)
