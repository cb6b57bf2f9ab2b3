"""Bearer-token authentication of the sfmc dialect against Clarion project keys."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from clarion.api.auth import Principal, bearer_token, verify_credentials
from clarion.api.dialects.sfmc.errors import SfmcError
from clarion.api.ratelimit import RateLimited
from clarion.api.state import AppState
from clarion.store.keys import StoredKey


@dataclass(frozen=True)
class Caller:
    """The project a request acts in and the apps its key may reach (None means all)."""

    project_id: str
    app_ids: frozenset[str] | None

    def may_use_app(self, app_id: str) -> bool:
        """Tell whether the key is limited to apps that exclude this one."""
        return self.app_ids is None or app_id in self.app_ids


async def authorize(request: Request, state: AppState, scope: str) -> Caller:
    """The caller; 401 without a valid key, 403 without `scope` (reads need `read`)."""
    presented = bearer_token(request)
    if presented is None:
        raise SfmcError(401, ["Not Authorized"])
    try:
        stored = await verify_credentials(state, request, presented)
    except RateLimited as exc:
        raise SfmcError(
            429, [f"Too many requests: retry in {exc.retry_after} seconds"], exc.retry_after
        ) from None
    if not isinstance(stored, StoredKey):
        raise SfmcError(401, ["Not Authorized"])
    principal = Principal(stored.project_id, stored.scopes, stored.app_ids)
    if not principal.allows(scope):
        raise SfmcError(403, [f"Insufficient privileges: the token lacks the {scope!r} scope"])
    try:
        await state.rate_limiter.check(stored.id)
    except RateLimited as exc:
        raise SfmcError(
            429, [f"Too many requests: retry in {exc.retry_after} seconds"], exc.retry_after
        ) from None
    return Caller(stored.project_id, stored.app_ids)
