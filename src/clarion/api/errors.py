"""Native error model: every failure answers {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from clarion.api.ratelimit import RateLimited
from clarion.domain.errors import DomainError
from clarion.domain.vocabulary import ErrorCode
from clarion.store.outage import RETRY_AFTER_SECONDS, database_unreachable

log = logging.getLogger(__name__)
ResponseT = TypeVar("ResponseT", bound=Response)

# Domain error codes answered with something other than 400.
_DOMAIN_STATUS: dict[str, int] = {
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PAYLOAD_TOO_LARGE: 400,
    # A template that exists but cannot be sent now: the request is well-formed.
    ErrorCode.TEMPLATE_INACTIVE: 422,
    ErrorCode.TEMPLATE_OUT_OF_WINDOW: 422,
}


class ApiError(Exception):
    """An error answered to the client with a status, a code and the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def not_found(what: str, field: str | None = None) -> ApiError:
    """A 404 for a missing resource."""
    return ApiError(404, ErrorCode.NOT_FOUND, f"{what} not found", field)


def malformed(field: str, message: str) -> ApiError:
    """A 400 for a value that is present but wrong."""
    return ApiError(400, ErrorCode.MALFORMED_PARAMETER, message, field)


def error_body(code: str, message: str, field: str | None) -> dict[str, Any]:
    """The JSON body of a native error."""
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    """A JSON response carrying a native error."""
    return JSONResponse(error_body(code, message, field), status_code=status)


def with_retry_after(response: ResponseT) -> ResponseT:
    """Tell the client when to come back from a database outage (any API's error shape)."""
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def field_path(location: tuple[Any, ...] | list[Any]) -> str | None:
    """Turn a pydantic error location into a dotted path such as recipients.tokens[3]."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or "[" in part):
            continue  # pydantic's internal names for validators and union branches
        else:
            path += f".{part}" if path else str(part)
    return path or None


def validation_error_response(errors: list[Any]) -> JSONResponse:
    """Map the first pydantic validation error to the native error codes."""
    first = errors[0] if errors else {"type": "value_error", "loc": (), "msg": "invalid request"}
    kind = str(first.get("type", ""))
    location = tuple(first.get("loc", ()))
    field = field_path(location)
    if kind == "json_invalid":
        return error_response(
            400, ErrorCode.MALFORMED_JSON_BODY, "the request body is not valid JSON"
        )
    if kind == "missing":
        if field is None:
            return error_response(400, ErrorCode.MISSING_PARAMETER, "a JSON body is required", None)
        return error_response(400, ErrorCode.MISSING_PARAMETER, f"{field} is required", field)
    message = str(first.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "model_attributes_type" or (kind.endswith("_type") and field is None):
        return error_response(
            400, ErrorCode.MALFORMED_JSON_BODY, "the request body must be a JSON object"
        )
    return error_response(
        400, ErrorCode.MALFORMED_PARAMETER, f"{field or 'body'}: {message}", field
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of the app answer in the native shape."""

    @app.exception_handler(ApiError)
    async def on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RateLimited)
    async def on_rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        response = error_response(429, ErrorCode.TOO_MANY_REQUESTS, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(DomainError)
    async def on_domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return error_response(_DOMAIN_STATUS.get(exc.code, 400), exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, ErrorCode.ROUTE_NOT_FOUND, "no such route")
        if exc.status_code == 405:
            return error_response(
                405, ErrorCode.METHOD_NOT_ALLOWED, "method not allowed on this route"
            )
        return error_response(exc.status_code, ErrorCode.HTTP_ERROR, str(exc.detail))

    @app.exception_handler(json.JSONDecodeError)
    async def on_json(_request: Request, _exc: json.JSONDecodeError) -> JSONResponse:
        return error_response(
            400, ErrorCode.MALFORMED_JSON_BODY, "the request body is not valid JSON"
        )

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        # An outage is the client's cue to come back later, not a bug of this server.
        if database_unreachable(exc):
            log.warning(
                "%s %s: the database is unavailable: %r", request.method, request.url.path, exc
            )
            return with_retry_after(
                error_response(
                    503,
                    ErrorCode.SERVICE_UNAVAILABLE,
                    "the database is unavailable; try again later",
                )
            )
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, ErrorCode.SERVER_ERROR, "internal error; see the server log")

    for database_error in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(database_error, on_database_error)

    @app.exception_handler(Exception)
    async def on_unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return error_response(500, ErrorCode.SERVER_ERROR, "internal error; see the server log")
