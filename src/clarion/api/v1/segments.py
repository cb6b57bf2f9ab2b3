"""Segments: saved filters over contacts and installations (see docs/broadcasts.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import not_found
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import Name, StrictModel
from clarion.domain.segment_filter import parse_filter
from clarion.store import segments as segment_store

router = APIRouter(tags=["segments"], route_class=CheckedRoute)


class SegmentIn(StrictModel):
    """A segment: a name and a filter (platforms, apps, languages, timezones, tags, ...)."""

    name: Name
    filter: dict[str, Any] = Field(
        description="Conditions that must all hold: platforms, apps, languages, timezones, "
        "tags {any, all, none}, contact_attributes, installation_attributes, "
        "last_engaged {before, after, within_days}, has_email, has_phone"
    )


def segment_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of a segment."""
    return {
        "id": row["id"],
        "name": row["name"],
        "filter": row["filter"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


@router.post("/v1/segments", status_code=201)
async def create_segment(
    body: SegmentIn,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create a segment; a malformed filter is refused with the field at fault."""
    flt = parse_filter(body.filter)
    async with state.engine.begin() as conn:
        row = await segment_store.create_segment(conn, context.project_id, body.name, flt)
    return segment_out(row)


@router.get("/v1/segments")
async def list_segments(
    page: Page = Depends(),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """The project's segments."""
    async with state.engine.connect() as conn:
        rows = await segment_store.list_segments(
            conn, context.project_id, page.after_int(), page.limit
        )
    return page.envelope([segment_out(r) for r in rows], rows[-1]["pk"] if rows else None)


@router.get("/v1/segments/{segment_id}")
async def get_segment(
    segment_id: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """One segment."""
    async with state.engine.connect() as conn:
        row = await segment_store.get_segment(conn, context.project_id, segment_id)
    if row is None:
        raise not_found("segment", "segment_id")
    return segment_out(row)


@router.put("/v1/segments/{segment_id}")
async def put_segment(
    segment_id: str,
    body: SegmentIn,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Replace a segment's name and filter."""
    flt = parse_filter(body.filter)
    async with state.engine.begin() as conn:
        row = await segment_store.update_segment(
            conn, context.project_id, segment_id, body.name, flt
        )
    if row is None:
        raise not_found("segment", "segment_id")
    return segment_out(row)


@router.delete("/v1/segments/{segment_id}", status_code=204)
async def delete_segment(
    segment_id: str,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete a segment."""
    async with state.engine.begin() as conn:
        if not await segment_store.delete_segment(conn, context.project_id, segment_id):
            raise not_found("segment", "segment_id")
    return Response(status_code=204)
