"""Liveness with a database check, and Prometheus metrics."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from app.database import get_db
from app.errors import DATABASE_DOWN, problem
from app.health.schemas import HealthRead
from app.observability import metrics_endpoint
from app.routing import AreaRouter

router = AreaRouter(tags=["health"])


@router.get(
    "/healthz",
    operation_id="health_check",
    summary="Liveness and database reachability",
    responses={200: {"model": HealthRead, "description": "The app and its database answer"}},
)
async def healthz() -> JSONResponse:
    try:
        await get_db().command("ping")
    except DATABASE_DOWN:
        return problem(503, "The database does not answer ping.", headers={"Retry-After": "2"})
    return JSONResponse({"status": "ok", "database": "ok"})


router.add_api_route(
    "/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False, summary="Prometheus"
)
