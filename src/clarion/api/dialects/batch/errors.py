"""The batch dialect's errors: documented names, numeric codes, HTTP statuses and body."""

from __future__ import annotations

from typing import Final

from fastapi import Request
from fastapi.responses import JSONResponse

from clarion.api.dialects.kit import Dialect, Kind, Problem, Wording, rename_field
from clarion.domain.errors import DomainError

#: name -> (HTTP status, numeric error code), as the platform documents them.
ERRORS: Final[dict[str, tuple[int, int]]] = {
    "SERVER_ERROR": (500, 1),
    "MAINTENANCE_ERROR": (503, 2),
    "AUTHENTICATION_INVALID": (401, 10),
    "API_MISUSE": (403, 12),
    "ROUTE_NOT_FOUND": (404, 20),
    "MISSING_PARAMETER": (400, 30),
    "MALFORMED_PARAMETER": (400, 31),
    "MALFORMED_JSON_BODY": (400, 32),
    "TOO_MANY_REQUESTS": (429, 60),
}
#: The documented name of each kind. The platform has no 404 for a named thing, no 405,
#: 409 or 415: a reference to nothing or a reused key is a malformed parameter, a wrong
#: method an unknown route, an unreadable body a malformed one.
NAMES: Final = {
    Kind.UNREADABLE: "MALFORMED_JSON_BODY",
    Kind.MISSING: "MISSING_PARAMETER",
    Kind.INVALID: "MALFORMED_PARAMETER",
    Kind.UNAUTHORIZED: "AUTHENTICATION_INVALID",
    Kind.FORBIDDEN: "API_MISUSE",
    Kind.NOT_FOUND: "MALFORMED_PARAMETER",
    Kind.NO_ROUTE: "ROUTE_NOT_FOUND",
    Kind.METHOD_NOT_ALLOWED: "ROUTE_NOT_FOUND",
    Kind.CONFLICT: "MALFORMED_PARAMETER",
    Kind.UNSUPPORTED_MEDIA_TYPE: "MALFORMED_JSON_BODY",
    Kind.TOO_MANY_REQUESTS: "TOO_MANY_REQUESTS",
    Kind.SERVER_ERROR: "SERVER_ERROR",
    Kind.UNAVAILABLE: "MAINTENANCE_ERROR",
}

# Native field prefixes and the batch field each one came from, most specific first.
_FIELD_RENAMES: Final = (
    ("options.priority", "priority"),
    ("options.ttl", "time_to_live"),
    ("options.collapse_key", "gcm_collapse_key.key"),
    ("options.push_type", "push_type"),
    ("options.labels", "labels"),
    ("options.sandbox", "sandbox"),
    ("options.skip_media_check", "skip_media_check"),
    ("options", "options"),
    ("recipients.installation_ids", "recipients.install_ids"),
    ("recipients.external_ids", "recipients.custom_ids"),
    ("recipients", "recipients"),
)
# Parts of a native content that batch sets once at the top level of its document.
_TOP_LEVEL_CONTENT: Final = (
    ("media", "media"),
    ("deeplink", "deeplink"),
    ("data", "custom_payload"),
    ("landing", "landing"),
)


def missing(field: str, message: str | None = None) -> Problem:
    """MISSING_PARAMETER naming the absent field."""
    return Problem(Kind.MISSING, message or f"{field} is required", field)


def malformed(field: str, message: str) -> Problem:
    """MALFORMED_PARAMETER naming the wrong field."""
    return Problem(Kind.INVALID, message, field)


def _rename_content_path(rest: str, container: str) -> str:
    """Map a path inside one native content to the batch field it came from."""
    return rename_field(rest, _TOP_LEVEL_CONTENT) or (f"{container}.{rest}" if rest else container)


def batch_field(native: str | None) -> str | None:
    """Translate a native field path (options.ttl, contents[1].body) to batch's names."""
    if native is None:
        return None
    renamed = rename_field(native, _FIELD_RENAMES)
    if renamed is not None:
        return renamed
    if native == "content" or native.startswith("content."):
        return _rename_content_path(native[len("content.") :], "message")
    if native.startswith("contents"):
        head, _, rest = native.partition("].")
        index = head[len("contents") :] + ("]" if rest else "")
        if not rest:
            return "messages" + native[len("contents") :]
        return _rename_content_path(rest, "messages" + index)
    return native


def from_domain(error: DomainError) -> Problem:
    """Map a core rule violation to batch's codes, naming the batch field."""
    kind = Kind.MISSING if error.code == "MISSING_PARAMETER" else Kind.INVALID
    if error.code == "FORBIDDEN":
        kind = Kind.FORBIDDEN
    field = batch_field(error.field)
    message = error.message
    if error.field and field:
        message = message.replace(error.field, field)
    return Problem(kind, message, field)


class BatchShape:
    """The platform's error body: numeric code, name, message and the field at fault."""

    def response(self, problem: Problem, request: Request) -> JSONResponse:
        """The documented status and body of the problem's name."""
        name = NAMES[problem.kind]
        status, code = ERRORS[name]
        body: dict[str, object] = {"code": code, "name": name, "message": problem.message}
        if problem.field is not None:
            body["field"] = problem.field
        return JSONResponse(body, status_code=status)


AUTH_HEADER: Final = "X-Authorization"

BATCH: Final = Dialect(
    name="batch",
    shape=BatchShape(),
    wording=Wording(
        missing_key=f"the {AUTH_HEADER} header is missing",
        invalid_key="the REST API key is not valid",
        lacks_scope="this REST API key may not send notifications",
        unknown_app="the app API key is not valid",
        other_app="this REST API key may not send for this app",
        unavailable="the service is temporarily unavailable",
        server_error="internal error; try again later",
        no_route="no route {path}",
    ),
    from_domain=from_domain,
)
