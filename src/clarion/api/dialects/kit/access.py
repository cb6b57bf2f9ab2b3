"""One authorization for every dialect: the key, the failed-auth throttle, scope, app, rate."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from clarion.api.auth import Principal, verify_credentials
from clarion.api.dialect_store import app_project
from clarion.api.dialects.kit.problems import Dialect, Kind, Problem
from clarion.api.ratelimit import RateLimited
from clarion.api.state import AppState, state_from


@dataclass(frozen=True)
class Caller:
    """The project a request acts in and the apps its key may reach (None means all)."""

    project_id: str
    app_ids: frozenset[str] | None

    def may_use_app(self, app_id: str) -> bool:
        """Tell whether the key is limited to apps that exclude this one."""
        return self.app_ids is None or app_id in self.app_ids


def _throttled(dialect: Dialect, exc: RateLimited) -> Problem:
    template = dialect.wording.too_many_requests
    message = str(exc) if template is None else template.format(retry_after=exc.retry_after)
    return Problem(Kind.TOO_MANY_REQUESTS, message, retry_after=exc.retry_after)


async def authorize(
    request: Request,
    dialect: Dialect,
    presented: str | None,
    *,
    scope: str = "send",
    app_id: str | None = None,
) -> Caller:
    """The caller of a request presenting a project key (None: no key was given).

    UNAUTHORIZED without a key or with an unknown one; TOO_MANY_REQUESTS once the
    address or key id failed too often, or the key is over its rate; FORBIDDEN without
    `scope`. With `app_id` (a credential of its own, as in a path), an app outside the
    key's project is UNAUTHORIZED and one off the key's apps FORBIDDEN.
    """
    wording = dialect.wording
    if presented is None:
        raise Problem(Kind.UNAUTHORIZED, wording.missing_key)
    state = state_from(request)
    try:
        stored = await verify_credentials(state, request, presented)
    except RateLimited as exc:
        raise _throttled(dialect, exc) from None
    # Without accept_admin the server admin key is not a project key: unknown here.
    if stored is None or isinstance(stored, Principal):
        raise Problem(Kind.UNAUTHORIZED, wording.invalid_key)
    caller = Caller(stored.project_id, stored.app_ids)
    # An app of another project is answered like an unknown one: nothing leaks across projects.
    if app_id is not None and not await owns_app(state, caller, app_id):
        raise Problem(Kind.UNAUTHORIZED, wording.unknown_app)
    if not Principal(stored.project_id, stored.scopes, stored.app_ids).allows(scope):
        raise Problem(Kind.FORBIDDEN, wording.lacks_scope.format(scope=scope))
    if app_id is not None and not caller.may_use_app(app_id):
        raise Problem(Kind.FORBIDDEN, wording.other_app)
    try:
        await state.rate_limiter.check(stored.id)
    except RateLimited as exc:
        raise _throttled(dialect, exc) from None
    return caller


async def owns_app(state: AppState, caller: Caller, app_id: str) -> bool:
    """Tell whether the app exists in the caller's project (whatever the key's app limits)."""
    return await app_project(state.engine, app_id) == caller.project_id
