"""Apps of a project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.exc import IntegrityError

from clarion.api.auth import ProjectContext, project_scope, resolve_app
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import Name, Slug, StrictModel
from clarion.domain.vocabulary import ErrorCode
from clarion.store import apps as app_store

router = APIRouter(tags=["apps"], route_class=CheckedRoute)


class AppIn(StrictModel):
    """A new app."""

    id: Slug
    name: Name


def app_out(row: dict[str, Any], providers: list[str] | None = None) -> dict[str, Any]:
    """Public representation of an app."""
    out = {
        "id": row["id"],
        "name": row["name"],
        "project_id": row["project_id"],
        "public_key": row["public_key"],
        "created_at": row["created_at"].isoformat(),
    }
    if providers is not None:
        out["providers"] = providers
    return out


@router.post("/v1/apps", status_code=201)
async def create_app(
    body: AppIn,
    context: ProjectContext = project_scope("admin", all_apps=True),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create an app in the caller's project."""
    try:
        async with state.engine.begin() as conn:
            row = await app_store.create_app(conn, context.project_id, body.id, body.name)
    except IntegrityError as exc:
        raise ApiError(409, ErrorCode.ALREADY_EXISTS, "an app with this id exists", "id") from exc
    return app_out(row, [])


@router.get("/v1/apps")
async def list_apps(
    page: Page = Depends(),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List the apps of the caller's project."""
    async with state.engine.connect() as conn:
        rows = await app_store.list_apps(conn, context.project_id, page.after_int(), page.limit)
    visible = [r for r in rows if context.principal.allows_app(r["id"])]
    return page.envelope([app_out(r) for r in visible], rows[-1]["pk"] if rows else None)


@router.get("/v1/apps/{app_id}")
async def get_app(
    app_id: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Fetch an app with the providers it has credentials for."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.connect() as conn:
        creds = await app_store.list_credentials(conn, app["pk"])
    return app_out(app, sorted(c["provider"] for c in creds))


@router.delete("/v1/apps/{app_id}", status_code=204)
async def delete_app(
    app_id: str,
    context: ProjectContext = project_scope("admin", all_apps=True),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete an app with its credentials and installations."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.begin() as conn:
        await app_store.delete_app(conn, app["pk"])
    return Response(status_code=204)
