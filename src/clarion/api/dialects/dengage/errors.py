"""The dengage dialect's error body and the mapping of core errors onto it."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse

from clarion.api.dialects.kit import Dialect, Kind, Problem, Wording, kind_of
from clarion.domain.errors import DomainError

#: (HTTP status, errorCode) of each kind; a problem's own code overrides the name.
CODES: Final = {
    Kind.UNREADABLE: (400, "ValidationError"),
    Kind.MISSING: (400, "ValidationError"),
    Kind.INVALID: (400, "ValidationError"),
    Kind.UNAUTHORIZED: (401, "Unauthorized"),
    Kind.FORBIDDEN: (403, "Forbidden"),
    Kind.NOT_FOUND: (404, "NotFound"),
    Kind.NO_ROUTE: (404, "RouteNotFound"),
    Kind.METHOD_NOT_ALLOWED: (405, "MethodNotAllowed"),
    Kind.CONFLICT: (409, "Conflict"),
    Kind.UNSUPPORTED_MEDIA_TYPE: (415, "UnsupportedMediaType"),
    Kind.TOO_MANY_REQUESTS: (429, "TooManyRequest"),
    Kind.SERVER_ERROR: (500, "InternalError"),
    Kind.UNAVAILABLE: (503, "ServiceUnavailable"),
}
#: Core error codes of a template that exists but cannot be sent now.
_TEMPLATE_NOT_ACTIVE: Final = frozenset({"TEMPLATE_INACTIVE", "TEMPLATE_OUT_OF_WINDOW"})


def validation_error(message: str, field: str | None) -> Problem:
    """A 400 for a request the dialect cannot accept as written."""
    return Problem(Kind.INVALID, message, field)


def from_domain(exc: DomainError, field: str | None) -> Problem:
    """Translate a core error; `field` is the dialect's name for the field at fault."""
    if exc.code in _TEMPLATE_NOT_ACTIVE:
        return Problem(Kind.INVALID, exc.message, field, code="TemplateNotActive")
    kind = kind_of(exc)
    if kind is Kind.NOT_FOUND and exc.field == "template_id":
        message = "the template id you have set was not found"
        return Problem(kind, message, field, code="TemplateNotFound")
    return Problem(kind, exc.message, field)


class DengageShape:
    """`{"success": false, "errorCode", "message", "field"}` with the kind's status."""

    def response(self, problem: Problem, request: Request) -> JSONResponse:
        """The problem's status and body; `field` is null when no field is at fault."""
        status, code = CODES[problem.kind]
        body: dict[str, Any] = {
            "success": False,
            "errorCode": problem.code or code,
            "message": problem.message,
            "field": problem.field,
        }
        return JSONResponse(body, status_code=status)


DENGAGE: Final = Dialect(
    name="dengage",
    shape=DengageShape(),
    wording=Wording(
        missing_key="not authenticated: a Bearer token is required",
        invalid_key="not authenticated: the token is not valid",
        lacks_scope="the API user lacks the TransactionalPush.Manage permission",
        unavailable="the service is unavailable; try later",
        server_error="internal error; see the server log",
        no_route="no route {path}",
        body_field=None,
    ),
    from_domain=lambda error: from_domain(error, error.field),
)
