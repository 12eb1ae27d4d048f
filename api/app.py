"""Builds the Litestar application around the services the composition root hands it."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from api.assignments import AssignmentController, QueueController
from api.attachments import AttachmentController
from api.dashboard import DashboardController
from api.dependencies import provide_actor
from api.errors import EXCEPTION_HANDLERS
from api.health import health
from api.replies import ReplyController
from api.services import Services
from api.sla import SLAPolicyController
from api.teams import RoutingRulesController, TeamController
from api.tickets import TicketController
from api.workflows import TenantSettingsController, WorkflowController

# Room for the multipart envelope around the largest accepted file.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(services: Services) -> Litestar:
    def provide_services() -> Services:
        return services

    return Litestar(
        route_handlers=[
            health,
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
        ],
        request_max_body_size=services.attachment_rules.max_bytes + MULTIPART_OVERHEAD,
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=True),  # may fetch signing keys
        },
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,  # the process configures logging once, for every role
        openapi_config=OpenAPIConfig(
            title="Docket",
            version="1",
            description="Event-sourced ticket backend. Authenticate with 'Authorization: Bearer <JWT>'.",
            components=Components(security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}),
            security=[{"BearerToken": []}],
        ),
    )
