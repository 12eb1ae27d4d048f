"""Dashboard figures for operations managers and ward councillors."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from api.tickets import Caller, Used
from projections.dashboard_queries import (
    CategoryVolume,
    Metrics,
    SLAFigures,
    TeamWorkload,
    dashboard_scope,
    metrics,
    sla,
    volume,
    workload,
)

Since = Annotated[date | None, QueryParameter(name="from", description="First day (UTC) tickets were opened on, inclusive")]
Until = Annotated[date | None, QueryParameter(name="to", description="Last day (UTC) tickets were opened on, inclusive")]


class DashboardController(Controller):
    path = "/api/v1/dashboard"
    tags = ["dashboard"]

    @get("/metrics", operation_id="dashboardMetrics", summary="Open and resolved, SLA compliance, average response, breaches", sync_to_thread=True)
    def metrics(self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None) -> Metrics:
        return metrics(services.engine, dashboard_scope(actor, ward, since, until))

    @get("/volume", operation_id="dashboardVolume", summary="Open and resolved tickets per category", sync_to_thread=True)
    def volume(self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None) -> list[CategoryVolume]:
        return volume(services.engine, dashboard_scope(actor, ward, since, until))

    @get("/sla", operation_id="dashboardSLA", summary="Response and resolution compliance and breaches", sync_to_thread=True)
    def sla(self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None) -> SLAFigures:
        return sla(services.engine, dashboard_scope(actor, ward, since, until))

    @get("/workload", operation_id="dashboardWorkload", summary="Open and total tickets per team", sync_to_thread=True)
    def workload(self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None) -> list[TeamWorkload]:
        return workload(services.engine, dashboard_scope(actor, ward, since, until))

