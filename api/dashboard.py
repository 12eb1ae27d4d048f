"""Dashboard figures for operations managers and ward councillors."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import FromQuery, QueryParameter

from api.tickets import Caller, Used
from domain.errors import Invalid
from domain.permissions import Actor
from projections.dashboard_queries import (
    CategoryVolume,
    Metrics,
    Scope,
    SLAFigures,
    TeamWorkload,
    dashboard_scope,
    metrics,
    sla,
    volume,
    workload,
)

# Taken as text and read in _day, so that a day that is not one is reported under the name the
# caller used (`from`, `to`) rather than the handler's parameter name.
Since = Annotated[
    str | None,
    QueryParameter(name="from", format=OpenAPIFormat.DATE, description="First day (UTC) tickets were opened on, inclusive, YYYY-MM-DD"),
]
Until = Annotated[
    str | None,
    QueryParameter(name="to", format=OpenAPIFormat.DATE, description="Last day (UTC) tickets were opened on, inclusive, YYYY-MM-DD"),
]


class DashboardController(Controller):
    path = "/api/v1/dashboard"
    tags = ["dashboard"]

    @get(
        "/metrics",
        operation_id="dashboardMetrics",
        summary="Open and resolved, SLA compliance, average response, breaches",
    )
    async def metrics(
        self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None
    ) -> Metrics:
        return await services.reads.run(metrics, scope_of(actor, ward, since, until))

    @get("/volume", operation_id="dashboardVolume", summary="Open and resolved tickets per category")
    async def volume(
        self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None
    ) -> list[CategoryVolume]:
        return await services.reads.run(volume, scope_of(actor, ward, since, until))

    @get("/sla", operation_id="dashboardSLA", summary="Response and resolution compliance and breaches")
    async def sla(
        self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None
    ) -> SLAFigures:
        return await services.reads.run(sla, scope_of(actor, ward, since, until))

    @get("/workload", operation_id="dashboardWorkload", summary="Open and total tickets per team")
    async def workload(
        self, actor: Caller, services: Used, ward: FromQuery[str | None] = None, since: Since = None, until: Until = None
    ) -> list[TeamWorkload]:
        return await services.reads.run(workload, scope_of(actor, ward, since, until))


def scope_of(actor: Actor, ward: str | None, since: str | None, until: str | None) -> Scope:
    return dashboard_scope(actor, ward, _day("from", since), _day("to", until))


def _day(field: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return msgspec.convert(value, date)
    except msgspec.ValidationError:
        raise Invalid(f"{field}: '{value}' is not a day; give it as YYYY-MM-DD.", code="invalid_date", field=field) from None
