"""The pushv2 dialect's ResponseStatus error body, in JSON or XML, and its core-error mapping."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import Any, Final, Literal

from fastapi import Request
from fastapi.responses import Response

from clarion.api.dialects.kit import Dialect, Kind, Problem, Wording, rename_field
from clarion.domain.errors import DomainError

XSI_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema-instance"
Format = Literal["json", "xml"]

#: (HTTP status, ErrorCode) of each kind.
CODES: Final = {
    Kind.UNREADABLE: (400, "SerializationException"),
    Kind.MISSING: (400, "ValidationException"),
    Kind.INVALID: (400, "ValidationException"),
    Kind.UNAUTHORIZED: (401, "Unauthorized"),
    Kind.FORBIDDEN: (403, "Forbidden"),
    Kind.NOT_FOUND: (404, "NotFound"),
    Kind.NO_ROUTE: (404, "NotFound"),
    Kind.METHOD_NOT_ALLOWED: (405, "MethodNotAllowed"),
    Kind.CONFLICT: (409, "Conflict"),
    Kind.UNSUPPORTED_MEDIA_TYPE: (415, "UnsupportedMediaType"),
    Kind.TOO_MANY_REQUESTS: (429, "TooManyRequests"),
    Kind.SERVER_ERROR: (500, "InternalServerError"),
    Kind.UNAVAILABLE: (503, "ServiceUnavailable"),
}
#: The ErrorCode of one field at fault.
_FIELD_CODES: Final = {Kind.MISSING: "NotEmpty", Kind.INVALID: "InvalidValue"}
# Native field prefixes and the pushv2 field they came from.
_FIELD_NAMES: Final = (
    ("content.title", "Title"),
    ("content.body", "Body"),
    ("content.sound", "Sound"),
    ("content", "Body"),
    ("options.ttl", "ExpirySecs"),
)


def invalid(field_name: str, message: str) -> Problem:
    """A ValidationException naming one field whose value is wrong."""
    return Problem(Kind.INVALID, message, field_name)


def all_missing(fields: Sequence[str], message: str | None = None) -> Problem:
    """A ValidationException listing each absent field (NotEmpty), with `message` or its own."""
    problems = [Problem(Kind.MISSING, message or f"{name} is required", name) for name in fields]
    first = problems[0]
    return Problem(Kind.MISSING, first.message, first.field, more=tuple(problems[1:]))


def from_domain(error: DomainError, user_field: str = "UserId") -> Problem:
    """A core rule violation as a validation error naming the pushv2 field."""
    if error.code == "FORBIDDEN":
        return Problem(Kind.FORBIDDEN, error.message)
    name = error.field or "Body"
    renamed = rename_field(name, _FIELD_NAMES, keep_rest=False)
    if renamed is not None:
        name = renamed
    elif name.startswith("recipients"):
        name = user_field
    kind = Kind.MISSING if error.code == "MISSING_PARAMETER" else Kind.INVALID
    return Problem(kind, error.message, name)


def _xml_children(parent: ElementTree.Element, value: Any, item_name: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            child = ElementTree.SubElement(parent, key)
            _xml_children(child, item, "ResponseError")
    elif isinstance(value, list):
        for item in value:
            _xml_children(ElementTree.SubElement(parent, item_name), item, item_name)
    elif value is not None:
        parent.text = str(value)


def render(body: dict[str, Any], root_name: str, status: int, output: Format) -> Response:
    """Serialize a response body in the asked format."""
    if output == "json":
        return Response(json.dumps(body), status_code=status, media_type="application/json")
    root = ElementTree.Element(root_name, {"xmlns:i": XSI_NAMESPACE})
    _xml_children(root, body, "ResponseError")
    content = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(content, status_code=status, media_type="application/xml")


def fallback_format(request: Request) -> Format:
    """The format of an error answer: `format` when it is valid, else the request's body's."""
    requested = request.query_params.get("format", "").lower()
    if requested in ("json", "xml"):
        return "json" if requested == "json" else "xml"
    content_type = request.headers.get("content-type", "").lower()
    return "json" if "json" in content_type else "xml"


class PushShape:
    """`{"ResponseStatus": {"ErrorCode", "Message", "Errors": [...]}}`, or `<ErrorResponse>`."""

    def response(self, problem: Problem, request: Request) -> Response:
        """The status of the problem's kind; every field at fault listed in Errors."""
        status, code = CODES[problem.kind]
        errors = [
            {"ErrorCode": _FIELD_CODES[item.kind], "FieldName": item.field, "Message": item.message}
            for item in problem.all()
            if item.field is not None and item.kind in _FIELD_CODES
        ]
        body = {"ResponseStatus": {"ErrorCode": code, "Message": problem.message, "Errors": errors}}
        return render(body, "ErrorResponse", status, fallback_format(request))


PUSHV2: Final = Dialect(
    name="pushv2",
    shape=PushShape(),
    wording=Wording(
        missing_key="the CompanyId and IntegrationKey are required",
        invalid_key="the CompanyId and IntegrationKey are not valid",
        lacks_scope="this IntegrationKey may not send notifications",
        unavailable="the service is temporarily unavailable",
        server_error="internal error",
        no_route="no route {path}",
        method_not_allowed="{method} is not allowed here",
        not_json="the body is not valid JSON",
        not_object="the body must be a JSON object",
    ),
    from_domain=from_domain,
)
