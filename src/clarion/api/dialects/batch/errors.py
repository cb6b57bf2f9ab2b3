"""The batch dialect's errors: documented names, numeric codes, HTTP statuses and body."""

from __future__ import annotations

from typing import Final

from fastapi.responses import JSONResponse

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


class BatchError(Exception):
    """A failure answered in the batch error body."""

    def __init__(
        self, name: str, message: str, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.field = field
        self.retry_after = retry_after


def missing(field: str, message: str | None = None) -> BatchError:
    """MISSING_PARAMETER naming the absent field."""
    return BatchError("MISSING_PARAMETER", message or f"{field} is required", field)


def malformed(field: str, message: str) -> BatchError:
    """MALFORMED_PARAMETER naming the wrong field."""
    return BatchError("MALFORMED_PARAMETER", message, field)


def _rename_content_path(rest: str, container: str) -> str:
    """Map a path inside one native content to the batch field it came from."""
    for native, batch in _TOP_LEVEL_CONTENT:
        if rest == native or rest.startswith((native + ".", native + "[")):
            return batch + rest[len(native) :]
    return f"{container}.{rest}" if rest else container


def batch_field(native: str | None) -> str | None:
    """Translate a native field path (options.ttl, contents[1].body) to batch's names."""
    if native is None:
        return None
    for prefix, renamed in _FIELD_RENAMES:
        if native == prefix or native.startswith((prefix + ".", prefix + "[")):
            return renamed + native[len(prefix) :]
    if native == "content" or native.startswith("content."):
        return _rename_content_path(native[len("content.") :], "message")
    if native.startswith("contents"):
        head, _, rest = native.partition("].")
        index = head[len("contents") :] + ("]" if rest else "")
        if not rest:
            return "messages" + native[len("contents") :]
        renamed = _rename_content_path(rest, "messages" + index)
        return renamed
    return native


def from_domain(error: DomainError) -> BatchError:
    """Map a core rule violation to batch's codes, naming the batch field."""
    name = "MISSING_PARAMETER" if error.code == "MISSING_PARAMETER" else "MALFORMED_PARAMETER"
    if error.code == "FORBIDDEN":
        name = "API_MISUSE"
    field = batch_field(error.field)
    message = error.message
    if error.field and field:
        message = message.replace(error.field, field)
    return BatchError(name, message, field)


def error_response(error: BatchError) -> JSONResponse:
    """The platform's error body: numeric code, name, message and the field at fault."""
    status, code = ERRORS[error.name]
    body: dict[str, object] = {"code": code, "name": error.name, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    response = JSONResponse(body, status_code=status)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response
