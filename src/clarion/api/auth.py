"""Bearer-key authentication and scope checks for the native API."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from clarion.api.errors import ApiError
from clarion.api.state import AppState, get_state
from clarion.store import apps as app_store
from clarion.store import projects as project_store
from clarion.store.keys import verify_key

PROJECT_HEADER = "Clarion-Project"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a project key with scopes, or the server admin key."""

    project_id: str | None
    scopes: frozenset[str]
    app_ids: frozenset[str] | None
    server_admin: bool = False

    def allows(self, scope: str) -> bool:
        """Tell whether the caller holds a scope: admin implies all, any scope implies read."""
        if self.server_admin or "admin" in self.scopes:
            return True
        if scope == "read":
            return bool(self.scopes)
        return scope in self.scopes

    def allows_app(self, app_id: str) -> bool:
        """Tell whether the key may touch an app."""
        return self.app_ids is None or app_id in self.app_ids


@dataclass(frozen=True)
class ProjectContext:
    """A caller acting inside one project."""

    principal: Principal
    project_id: str


def bearer_token(request: Request) -> str | None:
    """Extract the key from `Authorization: Bearer <key>`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authenticate(request: Request, state: AppState = Depends(get_state)) -> Principal:
    """Resolve the caller from its key; 401 when missing or unknown."""
    presented = bearer_token(request)
    if presented is None:
        raise ApiError(401, "AUTHENTICATION_REQUIRED", "missing `Authorization: Bearer <key>`")
    admin_key = state.settings.admin_key
    if admin_key and hmac.compare_digest(presented.encode(), admin_key.encode()):
        # The operator's own key is not rate limited: it must stay usable to fix things.
        return Principal(None, frozenset({"admin"}), None, server_admin=True)
    async with state.engine.connect() as conn:
        stored = await verify_key(conn, presented)
    if stored is None:
        raise ApiError(401, "AUTHENTICATION_INVALID", "the API key is not valid")
    await state.rate_limiter.check(stored.id)
    return Principal(stored.project_id, stored.scopes, stored.app_ids)


async def require_server_admin(principal: Principal = Depends(authenticate)) -> Principal:
    """Only the server admin key may manage projects."""
    if not principal.server_admin:
        raise ApiError(403, "FORBIDDEN", "this route needs the server admin key")
    return principal


def project_scope(scope: str) -> Any:
    """Dependency factory: the caller must hold `scope` inside a project."""

    async def dependency(
        request: Request,
        principal: Principal = Depends(authenticate),
        state: AppState = Depends(get_state),
    ) -> ProjectContext:
        if not principal.allows(scope):
            raise ApiError(403, "FORBIDDEN", f"the API key lacks the `{scope}` scope")
        if principal.project_id is not None:
            return ProjectContext(principal, principal.project_id)
        project_id = request.headers.get(PROJECT_HEADER)
        if not project_id:
            raise ApiError(
                400,
                "MISSING_PARAMETER",
                f"the server admin key needs a `{PROJECT_HEADER}` header on project routes",
                PROJECT_HEADER,
            )
        async with state.engine.connect() as conn:
            if await project_store.get_project(conn, project_id) is None:
                raise ApiError(404, "NOT_FOUND", "project not found", PROJECT_HEADER)
        return ProjectContext(principal, project_id)

    return Depends(dependency)


async def resolve_app(state: AppState, context: ProjectContext, app_id: str) -> dict[str, Any]:
    """Load an app the caller may touch: 404 when unknown, 403 when not theirs."""
    async with state.engine.connect() as conn:
        app = await app_store.get_app(conn, app_id)
    if app is None:
        raise ApiError(404, "NOT_FOUND", "app not found", "app_id")
    if app["project_id"] != context.project_id or not context.principal.allows_app(app_id):
        raise ApiError(403, "FORBIDDEN", "the API key may not access this app", "app_id")
    return app
