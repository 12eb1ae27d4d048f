"""Liveness and readiness for load balancers and operators."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from api.services import Services


@get("/health", operation_id="health", summary="Is the service up and its database reachable", sync_to_thread=True)
def health(services: NamedDependency[Services]) -> Response[dict[str, str]]:
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return Response({"status": "unavailable", "database": str(error)}, status_code=503)
    return Response({"status": "ok", "database": "ok"})
