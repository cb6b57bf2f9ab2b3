"""Projects (server admin) and the API keys of a project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from clarion.api.auth import Principal, ProjectContext, project_scope, require_server_admin
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError, not_found
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import Name, Slug, StrictModel
from clarion.domain.vocabulary import ErrorCode
from clarion.store import keys as key_store
from clarion.store import projects as project_store

router = APIRouter(tags=["projects"], route_class=CheckedRoute)


class ProjectIn(StrictModel):
    """A new project."""

    id: Slug
    name: Name


class KeyIn(StrictModel):
    """A new API key of the project."""

    name: str = Field("", max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=4)
    # An empty list would read as "every app": a key limited to no app is refused instead.
    app_ids: list[Slug] | None = Field(None, min_length=1, max_length=1000)


def _project_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "created_at": row["created_at"].isoformat()}


@router.post("/v1/projects", status_code=201)
async def create_project(
    body: ProjectIn,
    _admin: Principal = Depends(require_server_admin),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create a project (server admin key only)."""
    try:
        async with state.engine.begin() as conn:
            row = await project_store.create_project(conn, body.id, body.name)
    except IntegrityError as exc:
        raise ApiError(
            409, ErrorCode.ALREADY_EXISTS, "a project with this id exists", "id"
        ) from exc
    return _project_out(row)


@router.get("/v1/projects")
async def list_projects(
    page: Page = Depends(),
    _admin: Principal = Depends(require_server_admin),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List projects (server admin key only)."""
    async with state.engine.connect() as conn:
        rows = await project_store.list_projects(conn, page.after_str(), page.limit)
    return page.envelope([_project_out(r) for r in rows], rows[-1]["id"] if rows else None)


@router.get("/v1/projects/{project_id}")
async def get_project(
    project_id: str,
    _admin: Principal = Depends(require_server_admin),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Fetch a project (server admin key only)."""
    async with state.engine.connect() as conn:
        row = await project_store.get_project(conn, project_id)
    if row is None:
        raise not_found("project", "project_id")
    return _project_out(row)


@router.delete("/v1/projects/{project_id}", status_code=204)
async def delete_project(
    project_id: str,
    _admin: Principal = Depends(require_server_admin),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete a project with everything it owns (server admin key only)."""
    async with state.engine.begin() as conn:
        if not await project_store.delete_project(conn, project_id):
            raise not_found("project", "project_id")
    return Response(status_code=204)


@router.post("/v1/keys", status_code=201)
async def create_key(
    body: KeyIn,
    context: ProjectContext = project_scope("admin", all_apps=True),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create an API key of the project; its plaintext is shown only in this answer."""
    for index, scope in enumerate(body.scopes):
        if scope not in key_store.SCOPES:
            raise ApiError(
                400,
                ErrorCode.MALFORMED_PARAMETER,
                f"unknown scope {scope!r}; use {', '.join(key_store.SCOPES)}",
                f"scopes[{index}]",
            )
    beyond = context.principal.may_grant(body.scopes, body.app_ids)
    if beyond is not None:
        raise ApiError(
            403,
            ErrorCode.FORBIDDEN,
            "a key cannot create a key with more rights than its own",
            beyond,
        )
    async with state.engine.begin() as conn:
        stored, plaintext = await key_store.create_key(
            conn, context.project_id, body.scopes, body.app_ids, body.name
        )
    return {
        "id": stored.id,
        "key": plaintext,
        "scopes": sorted(stored.scopes),
        "app_ids": sorted(stored.app_ids) if stored.app_ids else None,
    }


@router.get("/v1/keys")
async def list_keys(
    context: ProjectContext = project_scope("admin", all_apps=True),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List the project's keys (never their secrets)."""
    async with state.engine.connect() as conn:
        rows = await key_store.list_keys(conn, context.project_id)
    data = [
        {
            **row,
            "created_at": row["created_at"].isoformat(),  # type: ignore[attr-defined]
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,  # type: ignore[attr-defined]
        }
        for row in rows
    ]
    return {"data": data, "next_cursor": None}


@router.delete("/v1/keys/{key_id}", status_code=204)
async def revoke_key(
    key_id: str,
    context: ProjectContext = project_scope("admin", all_apps=True),
    state: AppState = Depends(get_state),
) -> Response:
    """Revoke a key of the project."""
    async with state.engine.begin() as conn:
        if not await key_store.revoke_key(conn, context.project_id, key_id):
            raise not_found("key", "key_id")
    return Response(status_code=204)
