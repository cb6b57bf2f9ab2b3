"""The pushv2 dialect: `POST /api/v2/push?format=json|xml`, one push to one user.

Choices where the platform's document is vague (also written in docs/dialects/pushv2.md):

- Credentials travel in the body: `IntegrationKey` is a Clarion API key (scope `send`
  or `admin`; a key limited to apps only reaches those apps). `CompanyId` must be an
  integer and is not otherwise checked: the key alone names the project.
- The user: the first of `UserId`, `UserEmail`, `UserExternalId` that is not empty.
  `UserId` and `UserExternalId` are both a contact's external id (Clarion knows its
  users by that id); `UserEmail` is the contact's email. Every device of the user is
  reached (the 10 most recent, as for every contact send).
- `Sound` true plays the default sound; `ExpirySecs` is the lifetime (0 or absent: the
  provider default; at most 28 days).
- The request is JSON when Content-Type says json, XML when it says xml or is absent
  (the root element may have any name but must declare the XMLSchema-instance
  namespace; `i:nil="true"` means null). Field names are matched without regard to
  case and unknown fields are ignored, as the platform's .NET serializers do. XML is
  parsed with defusedxml: DTDs and entities are refused.
- The response is in `format` (json or xml); without it, in the request's format.
  Success is 200 `{"Id": <Clarion send id>, "Status": "accepted"}`; failures carry
  `{"ResponseStatus": {"ErrorCode", "Message", "Errors": [{"ErrorCode", "FieldName",
  "Message"}]}}` (XML: the same under `<ErrorResponse>`), with 400 (validation or
  unreadable body), 401 (bad key), 403 (key may not send), 404 (unknown route under
  /api/v2/), 405 (other method on /api/v2/push), 415 (other Content-Type), 500 and
  503 (database unreachable).
"""

from __future__ import annotations

import io
import json
import logging
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from clarion.api.auth import verify_credentials
from clarion.api.dialects.batch.unavailable import database_unreachable
from clarion.api.errors import with_retry_after
from clarion.api.offload import off_loop
from clarion.api.ratelimit import RateLimited
from clarion.api.state import AppState, get_state
from clarion.domain.command import parse_send_command
from clarion.domain.errors import DomainError
from clarion.domain.message import MAX_TTL_SECONDS
from clarion.domain.safe_input import UnsafeInput, loads_checked
from clarion.sending.accept import accept_send, request_hash
from clarion.store.keys import StoredKey

log = logging.getLogger(__name__)

PREFIX: Final = "/api/v2"
PUSH_PATH: Final = PREFIX + "/push"
XSI_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema-instance"
Format = Literal["json", "xml"]

_STRINGS: Final = ("UserId", "UserEmail", "UserExternalId", "Title", "Body", "IntegrationKey")
_INTEGERS: Final = ("ExpirySecs", "CompanyId")
_BOOLEANS: Final = ("Sound",)
_CANONICAL: Final = {name.lower(): name for name in (*_STRINGS, *_INTEGERS, *_BOOLEANS)}
_SENDING_SCOPES: Final = frozenset({"send", "admin"})
_ALL_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Native field prefixes and the pushv2 field they came from.
_FIELD_NAMES: Final = (
    ("content.title", "Title"),
    ("content.body", "Body"),
    ("content.sound", "Sound"),
    ("content", "Body"),
    ("options.ttl", "ExpirySecs"),
)

router = APIRouter(tags=["dialect: pushv2"])


@dataclass(frozen=True)
class FieldError:
    """One field at fault: code, name and message."""

    code: str
    field: str
    message: str


@dataclass
class PushError(Exception):
    """A failure answered in the platform's ResponseStatus body."""

    status: int
    code: str
    message: str
    errors: list[FieldError] = field(default_factory=list)
    retry_after: int | None = None


def _invalid(field_name: str, message: str, code: str = "InvalidValue") -> PushError:
    return PushError(400, "ValidationException", message, [FieldError(code, field_name, message)])


def request_format(content_type: str | None) -> Format:
    """JSON or XML from the Content-Type; XML when there is none."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not media_type or media_type in ("application/xml", "text/xml"):
        return "xml"
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type.endswith("+xml"):
        return "xml"
    raise PushError(415, "UnsupportedMediaType", f"Content-Type {media_type!r} is not supported")


def response_format(requested: str | None, fallback: Format) -> Format:
    """The `format` query parameter, or the request's own format."""
    if requested is None or requested == "":
        return fallback
    lowered = requested.lower()
    if lowered == "json":
        return "json"
    if lowered == "xml":
        return "xml"
    raise _invalid("format", "format must be json or xml")


def _coerce(name: str, value: Any, from_xml: bool) -> Any:
    if value is None:
        return None
    if name in _STRINGS:
        if not isinstance(value, str):
            raise _invalid(name, f"{name} must be a string")
        return value
    if name in _BOOLEANS:
        if from_xml and isinstance(value, str) and value.strip().lower() in ("true", "1"):
            return True
        if from_xml and isinstance(value, str) and value.strip().lower() in ("false", "0", ""):
            return False
        if isinstance(value, bool):
            return value
        raise _invalid(name, f"{name} must be true or false")
    if from_xml and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _invalid(name, f"{name} must be an integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, f"{name} must be an integer")
    return value


def _known_fields(raw: dict[str, Any], from_xml: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = _CANONICAL.get(key.lower())
        if name is not None:
            fields[name] = _coerce(name, value, from_xml)
    return fields


def parse_json(raw: bytes) -> dict[str, Any]:
    """The known fields of a JSON body."""
    try:
        document = loads_checked(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PushError(400, "SerializationException", "the body is not valid JSON") from None
    except UnsafeInput as exc:
        raise _invalid(exc.field or "body", exc.message) from None
    if not isinstance(document, dict):
        raise PushError(400, "SerializationException", "the body must be a JSON object")
    return _known_fields(document, from_xml=False)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml(raw: bytes) -> dict[str, Any]:
    """The known fields of an XML body whose root declares the XMLSchema-instance namespace."""
    try:
        declared = {
            uri
            for _event, (_prefix, uri) in SafeElementTree.iterparse(io.BytesIO(raw), ("start-ns",))
        }
        root = SafeElementTree.fromstring(raw)
    except (ElementTree.ParseError, DefusedXmlException):
        raise PushError(400, "SerializationException", "the body is not well-formed XML") from None
    if XSI_NAMESPACE not in declared:
        raise PushError(
            400,
            "SerializationException",
            f'the root element must declare xmlns:i="{XSI_NAMESPACE}"',
        )
    raw_fields: dict[str, Any] = {}
    for child in root:
        if child.get(f"{{{XSI_NAMESPACE}}}nil", "").lower() == "true":
            raw_fields[_local_name(child.tag)] = None
        else:
            raw_fields[_local_name(child.tag)] = (child.text or "").strip()
    return _known_fields(raw_fields, from_xml=True)


async def authorize(state: AppState, request: Request, fields: dict[str, Any]) -> StoredKey:
    """CompanyId and IntegrationKey are the credentials; the key must be a sending key."""
    missing = [
        FieldError("NotEmpty", name, f"{name} is required")
        for name in ("CompanyId", "IntegrationKey")
        if fields.get(name) in (None, "")
    ]
    if missing:
        raise PushError(400, "ValidationException", missing[0].message, missing)
    presented = str(fields["IntegrationKey"]).strip()
    try:
        stored = await verify_credentials(state, request, presented)
    except RateLimited as exc:
        raise PushError(429, "TooManyRequests", str(exc), retry_after=exc.retry_after) from None
    if not isinstance(stored, StoredKey):
        raise PushError(401, "Unauthorized", "the CompanyId and IntegrationKey are not valid")
    if not stored.scopes & _SENDING_SCOPES:
        raise PushError(403, "Forbidden", "this IntegrationKey may not send notifications")
    try:
        await state.rate_limiter.check(stored.id)
    except RateLimited as exc:
        raise PushError(429, "TooManyRequests", str(exc), retry_after=exc.retry_after) from None
    return stored


def native_document(fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The native send document for one user, and the identifier field that named the user."""
    recipients: dict[str, list[str]] | None = None
    user_field = ""
    for name, kind in (
        ("UserId", "external_ids"),
        ("UserEmail", "emails"),
        ("UserExternalId", "external_ids"),
    ):
        if fields.get(name):
            recipients, user_field = {kind: [fields[name]]}, name
            break
    if recipients is None:
        message = "at least one of UserId, UserEmail or UserExternalId is required"
        raise PushError(
            400,
            "ValidationException",
            message,
            [
                FieldError("NotEmpty", name, message)
                for name in ("UserId", "UserEmail", "UserExternalId")
            ],
        )
    content = {name.lower(): fields[name] for name in ("Title", "Body") if fields.get(name)}
    if fields.get("Sound"):
        content["sound"] = "default"
    options: dict[str, Any] = {}
    expiry = fields.get("ExpirySecs")
    if expiry is not None and expiry < 0:
        raise _invalid("ExpirySecs", "ExpirySecs cannot be negative")
    if expiry is not None and expiry > MAX_TTL_SECONDS:
        raise _invalid("ExpirySecs", f"ExpirySecs is at most {MAX_TTL_SECONDS} (28 days)")
    if expiry:
        options["ttl"] = expiry
    return {"recipients": recipients, "content": content, "options": options}, user_field


def from_domain(error: DomainError, user_field: str) -> PushError:
    """A core rule violation as a validation error naming the pushv2 field."""
    if error.code == "FORBIDDEN":
        return PushError(403, "Forbidden", error.message)
    name = error.field or "Body"
    for prefix, renamed in _FIELD_NAMES:
        if name == prefix or name.startswith((prefix + ".", prefix + "[")):
            name = renamed
            break
    else:
        if name.startswith("recipients"):
            name = user_field
    code = "NotEmpty" if error.code == "MISSING_PARAMETER" else "InvalidValue"
    return PushError(
        400, "ValidationException", error.message, [FieldError(code, name, error.message)]
    )


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


def error_response(error: PushError, output: Format) -> Response:
    """The platform's ResponseStatus error body."""
    status: dict[str, Any] = {"ErrorCode": error.code, "Message": error.message}
    status["Errors"] = [
        {"ErrorCode": item.code, "FieldName": item.field, "Message": item.message}
        for item in error.errors
    ]
    response = render({"ResponseStatus": status}, "ErrorResponse", error.status, output)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _push(request: Request, state: AppState) -> Response:
    input_format = request_format(request.headers.get("content-type"))
    output = response_format(request.query_params.get("format"), input_format)
    raw = await request.body()
    fields = parse_json(raw) if input_format == "json" else parse_xml(raw)
    stored = await authorize(state, request, fields)
    native, user_field = native_document(fields)
    try:
        command = await off_loop(parse_send_command, native, stored.app_ids)
    except DomainError as exc:
        raise from_domain(exc, user_field) from None
    accepted = await accept_send(
        state.engine, state.queue, stored.project_id, command, fingerprint=request_hash(native)
    )
    body = {"Id": accepted.id, "Status": accepted.status}
    return render(body, "PushResponse", 200, output)


def _fallback_format(request: Request) -> Format:
    """The format to answer in when the request could not be read."""
    requested = request.query_params.get("format", "").lower()
    if requested in ("json", "xml"):
        return "json" if requested == "json" else "xml"
    content_type = request.headers.get("content-type", "").lower()
    return "json" if "json" in content_type else "xml"


@router.post(PUSH_PATH, response_model=None)
async def push(request: Request, state: AppState = Depends(get_state)) -> Response:
    """Send one push to one user; answers 200 with the Clarion send id."""
    output = _fallback_format(request)
    try:
        return await _push(request, state)
    except PushError as exc:
        return error_response(exc, output)
    except DomainError as exc:
        return error_response(from_domain(exc, "UserId"), output)
    except Exception as exc:
        if database_unreachable(exc):
            log.warning("pushv2: the database is unreachable: %s", exc)
            error = PushError(503, "ServiceUnavailable", "the service is temporarily unavailable")
            return with_retry_after(error_response(error, output))
        log.exception("pushv2 send failed")
        return error_response(PushError(500, "InternalServerError", "internal error"), output)


@router.api_route(PREFIX + "/{rest:path}", methods=_ALL_METHODS, include_in_schema=False)
async def unknown_route(rest: str, request: Request) -> Response:
    """Other methods on the push path answer 405; other paths under /api/v2/ answer 404."""
    output = _fallback_format(request)
    if f"{PREFIX}/{rest}" == PUSH_PATH:
        error = PushError(405, "MethodNotAllowed", f"{request.method} is not allowed here")
    else:
        error = PushError(404, "NotFound", f"no route {PREFIX}/{rest}")
    return error_response(error, output)
