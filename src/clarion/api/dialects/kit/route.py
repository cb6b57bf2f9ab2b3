"""The route class of every dialect: whatever fails on its paths answers in the dialect's shape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from clarion.api.dialects.kit.problems import Dialect, Kind, Problem, answer
from clarion.api.outage import outage_retry_after
from clarion.domain.errors import DomainError

log = logging.getLogger(__name__)

ALL_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class DialectRoute(APIRoute):
    """An APIRoute answering problems, core errors, outages and crashes in `dialect`'s shape."""

    dialect: Dialect

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler so that no failure leaves in another shape."""
        handler = super().get_route_handler()
        dialect = self.dialect

        async def dialect_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (HTTPException, RequestValidationError):
                # FastAPI's own refusals of parameters keep the app's handlers.
                raise
            except Problem as problem:
                return answer(dialect, problem, request)
            except DomainError as error:
                return answer(dialect, dialect.from_domain(error), request)
            except Exception as exc:
                return answer(dialect, _failure(dialect, request, exc), request)

        return dialect_handler


def _failure(dialect: Dialect, request: Request, exc: Exception) -> Problem:
    retry_after = outage_retry_after(exc)
    if retry_after is not None:
        # An outage is the client's cue to come back later, not a bug of this server.
        log.warning(
            "%s %s %s: the database is unavailable: %r",
            dialect.name,
            request.method,
            request.url.path,
            exc,
        )
        return Problem(Kind.UNAVAILABLE, dialect.wording.unavailable, retry_after=retry_after)
    log.error("%s %s %s failed", dialect.name, request.method, request.url.path, exc_info=exc)
    return Problem(Kind.SERVER_ERROR, dialect.wording.server_error)


def dialect_router(dialect: Dialect) -> APIRouter:
    """A router whose routes all answer in the dialect's shape."""
    route_class = type(f"{dialect.name.capitalize()}Route", (DialectRoute,), {"dialect": dialect})
    return APIRouter(tags=[f"dialect: {dialect.name}"], route_class=route_class)


def add_catch_all(
    router: APIRouter, dialect: Dialect, prefix: str, known_paths: Collection[str] = ()
) -> None:
    """Answer every other path under `prefix` (NO_ROUTE) and other methods on `known_paths`.

    Add it last: routes match in order, and this one matches everything under the prefix.
    """

    async def unknown_route(request: Request, rest: str) -> Response:
        path = f"{prefix}/{rest}"
        wording = dialect.wording
        if path in known_paths:
            message = wording.method_not_allowed.format(method=request.method, path=path)
            raise Problem(Kind.METHOD_NOT_ALLOWED, message)
        raise Problem(Kind.NO_ROUTE, wording.no_route.format(method=request.method, path=path))

    router.add_api_route(
        prefix + "/{rest:path}", unknown_route, methods=ALL_METHODS, include_in_schema=False
    )
