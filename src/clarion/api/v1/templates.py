"""Message templates: per-language contents, default options, status and validity window."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, Field

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError, not_found
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import Name, StrictModel
from clarion.domain.vocabulary import ErrorCode
from clarion.sending.templates import normalized_template
from clarion.store import templates as template_store

router = APIRouter(tags=["templates"], route_class=CheckedRoute)

WritableStatus = Literal["draft", "active", "inactive"]
ListedStatus = Literal["draft", "active", "inactive", "deleted"]

_CONTENTS_HELP = (
    "Per-language contents (title, body, deeplink, media, data... with Liquid); "
    "exactly one without language is the fallback"
)


class TemplateIn(StrictModel):
    """A whole template, as created by POST or replaced by PUT."""

    name: Name
    contents: list[dict[str, Any]] = Field(description=_CONTENTS_HELP)
    options: dict[str, Any] | None = Field(
        None, description="Default options; a send's explicit options override them"
    )
    status: WritableStatus = Field("active", description="Only active templates can be sent")
    start_at: AwareDatetime | None = Field(None, description="Usable from this instant")
    end_at: AwareDatetime | None = Field(None, description="Usable until this instant (excluded)")


class TemplatePatch(StrictModel):
    """Fields of a template to change; those left out keep their stored value."""

    name: Name | None = None
    contents: list[dict[str, Any]] | None = Field(None, description=_CONTENTS_HELP)
    options: dict[str, Any] | None = None
    status: WritableStatus | None = None
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None


def template_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of a template."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row["id"],
        "name": row["name"],
        "contents": row["contents"],
        "options": row["options"],
        "status": row["status"],
        "start_at": iso(row["start_at"]),
        "end_at": iso(row["end_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _checked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a complete set of template fields and return them as stored."""
    contents, options = normalized_template(fields["contents"], fields["options"])
    start_at, end_at = fields["start_at"], fields["end_at"]
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise ApiError(
            400, ErrorCode.MALFORMED_PARAMETER, "end_at must be after start_at", "end_at"
        )
    return {**fields, "contents": contents, "options": options}


async def _own_template(state: AppState, project_id: str, template_id: str) -> dict[str, Any]:
    async with state.engine.connect() as conn:
        row = await template_store.get_template(conn, project_id, template_id)
    if row is None:
        raise not_found("template", "template_id")
    return row


@router.post("/v1/templates", status_code=201)
async def create_template(
    body: TemplateIn,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create a template; a Liquid syntax error is refused with its field, line and column."""
    fields = await off_loop(_checked_fields, body.model_dump())
    async with state.engine.begin() as conn:
        row = await template_store.insert_template(conn, context.project_id, fields)
    return template_out(row)


@router.get("/v1/templates/{template_id}")
async def get_template(
    template_id: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Fetch a template (deleted templates are not found)."""
    return template_out(await _own_template(state, context.project_id, template_id))


@router.get("/v1/templates")
async def list_templates(
    page: Page = Depends(),
    status: ListedStatus | None = Query(
        None, description="Only templates with this status (deleted ones are listed only so)"
    ),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List the project's templates in creation order."""
    async with state.engine.connect() as conn:
        rows = await template_store.list_templates(
            conn, context.project_id, page.after_int(), page.limit, status
        )
    return page.envelope([template_out(r) for r in rows], rows[-1]["pk"] if rows else None)


@router.put("/v1/templates/{template_id}")
async def replace_template(
    template_id: str,
    body: TemplateIn,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Replace every field of a template."""
    return await _update(state, context.project_id, template_id, body.model_dump())


@router.patch("/v1/templates/{template_id}")
async def patch_template(
    template_id: str,
    body: TemplatePatch,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Change some fields of a template; contents and options are validated together."""
    return await _update(
        state, context.project_id, template_id, body.model_dump(exclude_unset=True)
    )


async def _update(
    state: AppState, project_id: str, template_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    for name in ("name", "contents", "status"):
        if name in changes and changes[name] is None:
            raise ApiError(400, ErrorCode.MALFORMED_PARAMETER, f"{name} cannot be null", name)
    row = await _own_template(state, project_id, template_id)
    current = {
        name: row[name] for name in ("name", "contents", "options", "status", "start_at", "end_at")
    }
    fields = await off_loop(_checked_fields, current | changes)
    async with state.engine.begin() as conn:
        await template_store.update_template(conn, row["pk"], fields)
        updated = await template_store.get_template(conn, project_id, template_id)
    assert updated is not None
    return template_out(updated)


@router.delete("/v1/templates/{template_id}", status_code=204)
async def delete_template(
    template_id: str,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete a template: its status becomes deleted and sends can no longer use it."""
    row = await _own_template(state, context.project_id, template_id)
    async with state.engine.begin() as conn:
        await template_store.update_template(conn, row["pk"], {"status": template_store.DELETED})
    return Response(status_code=204)
