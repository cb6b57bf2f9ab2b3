"""A broadcast's audience size before sending: the dry run of POST /v1/sends."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.api.v1.sends import SendIn
from clarion.domain.command import parse_send_command
from clarion.domain.vocabulary import ErrorCode
from clarion.store.audience import AudienceGone, count_audience, resolve_audience
from clarion.store.types import utcnow

router = APIRouter(tags=["sends"], route_class=CheckedRoute)


@router.post("/v1/sends/count")
async def count_send_audience(
    body: SendIn,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """How many devices a broadcast would target if sent now; nothing is stored or sent."""
    document = body.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    if "audience" not in document:
        raise ApiError(
            400,
            ErrorCode.MISSING_PARAMETER,
            "counting needs an audience: a send to recipients targets their devices",
            "audience",
        )
    # Only the audience is counted: a placeholder stands for the message, whatever it is.
    for name in ("content", "contents", "template_id"):
        document.pop(name, None)
    document["content"] = {"body": "-"}
    command = await off_loop(parse_send_command, document, context.principal.app_ids, utcnow())
    assert command.broadcast is not None
    async with state.engine.connect() as conn:
        try:
            resolved = await resolve_audience(conn, context.project_id, command.broadcast)
        except AudienceGone as exc:
            raise ApiError(404, ErrorCode.NOT_FOUND, str(exc), exc.field) from None
        devices = await count_audience(conn, context.project_id, resolved, command.apps, utcnow())
    return {"devices": devices}
