"""Bearer-key authentication and scope checks for the native API."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from clarion.api.errors import ApiError
from clarion.api.state import AppState, get_state
from clarion.domain.vocabulary import ErrorCode
from clarion.store import apps as app_store
from clarion.store import projects as project_store
from clarion.store.keys import StoredKey, cached_key, remember_key, split_key, verify_key

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

    def may_grant(self, scopes: list[str], app_ids: list[str] | None) -> str | None:
        """Name the part of a new key that would exceed this caller's rights, or None."""
        for index, scope in enumerate(scopes):
            if not (self.server_admin or "admin" in self.scopes or scope in self.scopes):
                return f"scopes[{index}]"
        if self.app_ids is None:
            return None
        if not app_ids:
            return "app_ids"
        for index, app_id in enumerate(app_ids):
            if app_id not in self.app_ids:
                return f"app_ids[{index}]"
        return None


SERVER_ADMIN = Principal(None, frozenset({"admin"}), None, server_admin=True)


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


def client_address(request: Request) -> str | None:
    """The address of the peer that sent the request."""
    return request.client.host if request.client else None


async def verify_credentials(
    state: AppState, request: Request, presented: str, *, accept_admin: bool = False
) -> StoredKey | Principal | None:
    """Check a presented key under the failed-authentication throttle (AuthThrottled).

    Returns the stored project key, the server admin principal (only with `accept_admin`),
    or None, in which case the failure is counted against the address and the key id.
    """
    address = client_address(request)
    parts = split_key(presented)
    key_id = parts[0] if parts is not None else None
    await state.auth_throttle.check(address, None)
    admin_key = state.settings.admin_key
    if accept_admin and admin_key and hmac.compare_digest(presented.encode(), admin_key.encode()):
        return SERVER_ADMIN
    stored = cached_key(presented)
    if stored is not None:
        return stored
    async with state.engine.connect() as conn:
        stored = await verify_key(conn, presented)
    if stored is not None:
        remember_key(presented, stored)
    else:
        # Key secrets carry 256 random bits, so the rightful holder of a key id is let
        # through even while that id is being guessed at: anyone who merely knows an id
        # must not be able to lock its key out. Wrong secrets for it answer 429.
        await state.auth_throttle.failed(address, None)
        await state.auth_throttle.check(None, key_id)
        await state.auth_throttle.failed(None, key_id)
    return stored


async def authenticate(request: Request, state: AppState = Depends(get_state)) -> Principal:
    """Resolve the caller from its key; 401 when missing or unknown, 429 after many failures."""
    presented = bearer_token(request)
    if presented is None:
        raise ApiError(
            401, ErrorCode.AUTHENTICATION_REQUIRED, "missing `Authorization: Bearer <key>`"
        )
    stored = await verify_credentials(state, request, presented, accept_admin=True)
    if isinstance(stored, Principal):
        # The operator's own key is not rate limited: it must stay usable to fix things.
        return stored
    if stored is None:
        raise ApiError(401, ErrorCode.AUTHENTICATION_INVALID, "the API key is not valid")
    await state.rate_limiter.check(stored.id)
    return Principal(stored.project_id, stored.scopes, stored.app_ids)


async def require_server_admin(principal: Principal = Depends(authenticate)) -> Principal:
    """Only the server admin key may manage projects."""
    if not principal.server_admin:
        raise ApiError(
            403,
            ErrorCode.FORBIDDEN,
            "this route needs the server admin key: start the server with CLARION_ADMIN_KEY set "
            "(e.g. from `openssl rand -hex 32`) and send it as the bearer key, or create a "
            "project with its first key from the command line: "
            "`clarion keys create --project P --scope admin`",
        )
    return principal


def project_scope(scope: str, *, all_apps: bool = False) -> Any:
    """Dependency factory: the caller must hold `scope` inside a project.

    With `all_apps`, a key limited to some apps is refused: keys and the set of apps
    belong to the whole project.
    """

    async def dependency(
        request: Request,
        principal: Principal = Depends(authenticate),
        state: AppState = Depends(get_state),
    ) -> ProjectContext:
        return await project_context(request, principal, state, scope, all_apps=all_apps)

    return Depends(dependency)


async def project_context(
    request: Request, principal: Principal, state: AppState, scope: str, *, all_apps: bool = False
) -> ProjectContext:
    """The project an authenticated caller acts in, once it is known to hold `scope` there."""
    if not principal.allows(scope):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"the API key lacks the `{scope}` scope")
    if all_apps and principal.app_ids is not None:
        raise ApiError(
            403, ErrorCode.FORBIDDEN, "a key limited to some apps may not manage keys or apps"
        )
    if principal.project_id is not None:
        return ProjectContext(principal, principal.project_id)
    project_id = request.headers.get(PROJECT_HEADER)
    if not project_id:
        raise ApiError(
            400,
            ErrorCode.MISSING_PARAMETER,
            f"the server admin key needs a `{PROJECT_HEADER}` header on project routes",
            PROJECT_HEADER,
        )
    if project_store.project_known(project_id):
        return ProjectContext(principal, project_id)
    async with state.engine.connect() as conn:
        if not await project_store.project_exists(conn, project_id):
            raise ApiError(404, ErrorCode.NOT_FOUND, "project not found", PROJECT_HEADER)
    return ProjectContext(principal, project_id)


async def resolve_app(state: AppState, context: ProjectContext, app_id: str) -> dict[str, Any]:
    """Load an app the caller may touch: 404 when not in its project, 403 when off its key."""
    async with state.engine.connect() as conn:
        app = await app_store.get_app(conn, app_id)
    # Another project's app is answered exactly like a missing one, so ids do not leak.
    if app is None or app["project_id"] != context.project_id:
        raise ApiError(404, ErrorCode.NOT_FOUND, "app not found", "app_id")
    if not context.principal.allows_app(app_id):
        raise ApiError(403, ErrorCode.FORBIDDEN, "the API key may not access this app", "app_id")
    return app
