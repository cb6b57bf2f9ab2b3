"""The dengage dialect's error body and the mapping of core errors onto it."""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse

from clarion.domain.errors import DomainError

#: Core error codes answered with something other than 400, and their dengage names.
_DOMAIN_ERRORS: Final = {
    "FORBIDDEN": (403, "Forbidden"),
    "NOT_FOUND": (404, "NotFound"),
    "TEMPLATE_INACTIVE": (400, "TemplateNotActive"),
    "TEMPLATE_OUT_OF_WINDOW": (400, "TemplateNotActive"),
}


class DengageError(Exception):
    """A failure answered as `{"success": false, "errorCode", "message", "field"}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        """The HTTP answer carrying this error."""
        body: dict[str, Any] = {
            "success": False,
            "errorCode": self.code,
            "message": self.message,
            "field": self.field,
        }
        response = JSONResponse(body, status_code=self.status)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


def validation_error(message: str, field: str | None) -> DengageError:
    """A 400 for a request the dialect cannot accept as written."""
    return DengageError(400, "ValidationError", message, field)


def from_domain(exc: DomainError, field: str | None) -> DengageError:
    """Translate a core error; `field` is the dialect's name for the field at fault."""
    status, code = _DOMAIN_ERRORS.get(exc.code, (400, "ValidationError"))
    message = exc.message
    if exc.code == "NOT_FOUND" and exc.field == "template_id":
        code, message = "TemplateNotFound", "the template id you have set was not found"
    return DengageError(status, code, message, field)
