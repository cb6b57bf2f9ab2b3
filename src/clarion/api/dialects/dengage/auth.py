"""Bearer-token authentication of the dengage dialect against Clarion project keys."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from clarion.api.auth import Principal, bearer_token, verify_credentials
from clarion.api.dialects.dengage.errors import DengageError
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


async def authorize(request: Request, state: AppState) -> Caller:
    """The caller of a send; 401 without a valid key, 403 without the `send` scope.

    The platform's TransactionalPush.Manage permission is the key's `send` scope.
    """
    presented = bearer_token(request)
    if presented is None:
        raise DengageError(401, "Unauthorized", "not authenticated: a Bearer token is required")
    try:
        stored = await verify_credentials(state, request, presented)
    except RateLimited as exc:
        raise DengageError(429, "TooManyRequest", str(exc), retry_after=exc.retry_after) from None
    if not isinstance(stored, StoredKey):
        raise DengageError(401, "Unauthorized", "not authenticated: the token is not valid")
    principal = Principal(stored.project_id, stored.scopes, stored.app_ids)
    if not principal.allows("send"):
        raise DengageError(
            403, "Forbidden", "the API user lacks the TransactionalPush.Manage permission"
        )
    try:
        await state.rate_limiter.check(stored.id)
    except RateLimited as exc:
        raise DengageError(429, "TooManyRequest", str(exc), retry_after=exc.retry_after) from None
    return Caller(stored.project_id, stored.app_ids)
