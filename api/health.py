"""Liveness and readiness for load balancers and operators."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from api.services import Services
from projections.health import stalls


@get("/health", operation_id="health", summary="Is the service up, its database reachable and every projection moving", sync_to_thread=True)
def health(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    """A stalled projection leaves the service up, answering from what the read models hold
    (status `degraded`); an unreachable database does not (503)."""
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            stalled = stalls(conn)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return Response({"status": "unavailable", "database": type(error).__name__}, status_code=503)
    if stalled:
        return Response({"status": "degraded", "database": "ok", "stalled_projections": stalled})
    return Response({"status": "ok", "database": "ok"})
