"""Builds the Litestar application around the services the composition root hands it."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from api.assignments import AssignmentController, QueueController
from api.attachments import AttachmentController
from api.audit import AuditController, TicketEventsController
from api.dashboard import DashboardController
from api.dashboard_stream import DashboardStreamController
from api.dependencies import provide_actor
from api.errors import EXCEPTION_HANDLERS
from api.health import health, live, ready
from api.limits import request_limits
from api.metrics import metrics
from api.notifications import NotificationRulesController, SuppressionController, TicketNotificationsController
from api.ops import ops_routes
from api.replies import ReplyController
from api.request_hooks import before_handling, document_consistency, with_position
from api.services import Services
from api.sla import SLAPolicyController
from api.storable import DocketRequest
from api.teams import RoutingRulesController, TeamController
from api.tickets import TicketController
from api.workflows import TenantSettingsController, WorkflowController
from projections.row_security import enforce_on

# Room for the multipart envelope around the largest accepted file.
MULTIPART_OVERHEAD = 64 * 1024
# The documentation page's scripts, styles and icon (swagger-ui-dist, with its licence), served
# by Docket itself so that /schema works on a network without the internet.
STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS = "/schema/assets"
SWAGGER_UI = f"{DOCS_ASSETS}/swagger-ui"


def docs_page() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI}/favicon-32x32.png'>",
    )


def create_app(services: Services) -> Litestar:
    enforce_on(services.engine)  # the read models answer each request with the caller's rows alone

    def provide_services() -> Services:
        return services

    app = Litestar(
        route_handlers=[
            health,
            live,
            ready,
            metrics,
            TicketController,
            ReplyController,
            AttachmentController,
            WorkflowController,
            TenantSettingsController,
            AssignmentController,
            QueueController,
            TeamController,
            RoutingRulesController,
            SLAPolicyController,
            DashboardController,
            DashboardStreamController,
            AuditController,
            TicketEventsController,
            NotificationRulesController,
            TicketNotificationsController,
            SuppressionController,
            create_static_files_router(path=SWAGGER_UI, directories=[STATIC_DIR / "swagger-ui"], include_in_schema=False),
            *ops_routes(),  # the operations page at / and /ops
        ],
        middleware=[request_limits(services.limits)],  # 503 past the database's bound or too many commands
        request_class=DocketRequest,  # refuses bodies that cannot be decoded or stored
        # unstorable text and unknown query parameters refused; a read given `after` waits for its read models
        before_request=before_handling(services),
        after_request=with_position,  # a command's notification id as the header Docket-Position too
        request_max_body_size=services.attachment_rules.max_bytes + MULTIPART_OVERHEAD,
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "actor": Provide(provide_actor),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        on_shutdown=[services.reads.close],  # the pool of reads of the loop that served
        logging_config=None,  # the process configures logging once, for every role
        openapi_config=OpenAPIConfig(
            title="Docket",
            version="1",
            description="Event-sourced ticket backend. Authenticate with 'Authorization: Bearer <JWT>'.",
            components=Components(security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}),
            security=[{"BearerToken": []}],
            render_plugins=[docs_page()],
        ),
    )
    document_consistency(app)
    return app
