"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from clarion.api.backlog_metrics import refresh_backlog
from clarion.api.errors import error_body, error_response
from clarion.api.state import AppState, get_state
from clarion.domain.vocabulary import ErrorCode
from clarion.store.write_probe import probe_write

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(
    state: AppState = Depends(get_state),
    providers: bool = Query(
        True,
        description="Also answer 503 while every recent attempt of an app's provider failed "
        "(`false` checks the database and the stored secrets only, for load balancers)",
    ),
) -> Response | dict[str, Any]:
    """The database takes a write, every provider secret opens and no provider is failing."""
    try:
        await probe_write(state.engine)
    except Exception as exc:  # any driver failure or timeout means "not ready", never a crash
        log.warning("not ready: the database cannot take a write: %r", exc)
        return error_response(503, ErrorCode.NOT_READY, "the database cannot take a write")
    if state.secret_health is not None:
        try:
            unreadable = await state.secret_health.refresh()
        except Exception as exc:
            log.warning("not ready: stored provider secrets cannot be checked: %r", exc)
            return error_response(
                503, ErrorCode.NOT_READY, "stored provider secrets cannot be checked"
            )
        if unreadable:
            names = ", ".join(secret.describe() for secret in unreadable)
            body = error_body(
                ErrorCode.NOT_READY, f"provider secrets cannot be decrypted: {names}", None
            ) | {
                "unreadable_secrets": [
                    {"app": s.app_id, "provider": s.provider} for s in unreadable
                ]
            }
            return JSONResponse(body, status_code=503)
    failing = state.provider_health.failing() if state.provider_health is not None else []
    if providers and failing:
        names = ", ".join(f"{f['provider']} of app {f['app']}" for f in failing)
        body = error_body(
            ErrorCode.NOT_READY, f"every recent delivery attempt failed for: {names}", None
        ) | {"failing_providers": failing}
        return JSONResponse(body, status_code=503)
    return {"status": "ready", "database": state.engine.dialect.name}


@router.get("/metrics", include_in_schema=False)
async def metrics(state: AppState = Depends(get_state)) -> Response:
    """Prometheus exposition of the process metrics, queue and open sends read just now."""
    await refresh_backlog(state.engine)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
