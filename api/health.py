"""Liveness and readiness for load balancers, orchestrators and operators.

`/health/live` says the process runs and checks nothing else. `/health/ready` (and `/health`)
checks the database within READY_TIMEOUT: 503 when it does not answer, naming it. A stalled
projection leaves the service ready, answering from what the read models hold: `degraded`, with
the projection's name and position.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.services import Services
from projections.health import Stall, stalls

READY_TIMEOUT = 1.0  # seconds the database has to answer; no answer is "not ready"


@get("/health/live", operation_id="live", summary="Is the process running (nothing else is checked)")
async def live() -> dict[str, str]:
    return {"status": "live"}


@get("/health/ready", operation_id="ready", summary="Can it serve: the database answers; stalled projections named")
async def ready(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    return await _readiness(services)


@get("/health", operation_id="health", summary="As /health/ready")
async def health(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    return await _readiness(services)


async def _readiness(services: Services) -> Response[dict[str, Any]]:
    try:
        stalled = await asyncio.wait_for(asyncio.to_thread(_database_check, services.engine), READY_TIMEOUT)
    except TimeoutError:
        return _unavailable(f"no answer within {READY_TIMEOUT:g}s")
    except Exception as error:  # noqa: BLE001 - any failure means not ready; its message may hold addresses
        return _unavailable(type(error).__name__)
    if stalled:
        return Response({"status": "degraded", "database": "ok", "stalled_projections": stalled})
    return Response({"status": "ok", "database": "ok"})


def _database_check(engine: Engine) -> list[Stall]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return stalls(conn)


def _unavailable(database: str) -> Response[dict[str, Any]]:
    return Response({"status": "unavailable", "database": database}, status_code=503, headers={"Retry-After": "5"})
