"""Frequency cap rules by label: at most `max` labelled sends per contact per period."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import not_found
from clarion.api.state import AppState, get_state
from clarion.api.v1.validators import StrictModel
from clarion.domain.safe_input import Int
from clarion.store import caps as cap_store
from clarion.store.types import utcnow

router = APIRouter(tags=["caps"], route_class=CheckedRoute)

Label = Annotated[str, Path(min_length=1, max_length=256)]


class CapIn(StrictModel):
    """At most `max` sends with the label reach a contact in any `period_seconds`."""

    max: Annotated[Int, Field(ge=0, le=1_000_000)]
    period_seconds: Annotated[Int, Field(ge=1, le=366 * 24 * 3600)]


def cap_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of a rule."""
    return {
        "label": row["label"],
        "max": row["max_sends"],
        "period_seconds": row["period_seconds"],
        "updated_at": row["updated_at"].isoformat(),
    }


@router.put("/v1/caps/{label}")
async def put_cap(
    label: Label,
    body: CapIn,
    response: Response,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create or replace the cap of a label (201 when created)."""
    async with state.engine.begin() as conn:
        created = await cap_store.put_rule(
            conn, context.project_id, label, body.max, body.period_seconds, utcnow()
        )
        rows = await cap_store.list_rules(conn, context.project_id, [label])
    response.status_code = 201 if created else 200
    return cap_out(rows[0])


@router.get("/v1/caps")
async def list_caps(
    context: ProjectContext = project_scope("read"), state: AppState = Depends(get_state)
) -> dict[str, Any]:
    """Every cap rule of the project, by label."""
    async with state.engine.connect() as conn:
        rows = await cap_store.list_rules(conn, context.project_id)
    return {"data": [cap_out(r) for r in rows]}


@router.delete("/v1/caps/{label}", status_code=204)
async def delete_cap(
    label: Label,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> Response:
    """Remove the cap of a label."""
    async with state.engine.begin() as conn:
        if not await cap_store.delete_rule(conn, context.project_id, label):
            raise not_found("cap", "label")
    return Response(status_code=204)
