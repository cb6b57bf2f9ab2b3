"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from clarion.api.errors import error_response
from clarion.api.state import AppState, get_state

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(state: AppState = Depends(get_state)) -> Response | dict[str, Any]:
    """The database answers; load balancers route traffic only then."""
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any driver failure means "not ready", never a crash
        return error_response(503, "NOT_READY", "the database is not reachable")
    return {"status": "ready", "database": state.engine.dialect.name}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus exposition of the process metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
