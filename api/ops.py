"""The operations page: `GET /` and `/ops` serve static HTML, CSS and JavaScript kept in
api/static/ops, which reads everything it shows from the API with the person's own token.

The page makes no request beyond this server (and, with an identity provider configured, its token
endpoint): its Content-Security-Policy says so, and the browser enforces it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

from litestar import Response, get
from litestar.params import QueryParameter
from litestar.router import Router
from litestar.static_files import create_static_files_router

from api.services import Services
from api.sign_in import PageConfig
from api.tickets import Used

STATIC = Path(__file__).parent / "static"
OPS_DIR = STATIC / "ops"  # its scripts, styles and icon
PAGE = STATIC / "ops.html"  # served only with its Content-Security-Policy, never as an asset
ASSETS = "/ops/assets"
# What the identity provider adds to the page's address when it sends the person back.
Returned = Annotated[
    str | None, QueryParameter(max_length=4096, description="Set by the identity provider on its way back", required=False)
]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def content_security_policy(services: Services) -> str:
    provider = services.identity_provider
    connect = "'self'" + (f" {provider.token_origin}" if provider else "")
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def page(services: Services) -> Response[bytes]:
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": content_security_policy(services)}
    return Response(page_html(), media_type="text/html; charset=utf-8", headers=headers)


@functools.cache
def page_html() -> bytes:
    return PAGE.read_bytes()


@get(["/", "/ops"], operation_id="operationsPage", summary="The operations page (HTML)", include_in_schema=False, sync_to_thread=False)
def operations_page(
    services: Used,
    code: Returned = None,
    returned_state: Annotated[str | None, QueryParameter(name="state", max_length=4096, required=False)] = None,
    error: Returned = None,
    error_description: Returned = None,
    session_state: Returned = None,
    iss: Returned = None,
) -> Response[bytes]:
    """The page; the parameters are the identity provider's answer, which the page reads itself."""
    return page(services)


@get("/ops/config.json", operation_id="operationsPageConfig", summary="How the operations page signs people in", sync_to_thread=False)
def operations_config(services: Used) -> PageConfig:
    return PageConfig(services.identity_provider)


def ops_routes() -> list[object]:
    assets: Router = create_static_files_router(path=ASSETS, directories=[OPS_DIR], name="ops-assets", include_in_schema=False)
    return [operations_page, operations_config, assets]
