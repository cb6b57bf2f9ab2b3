"""Turning a pushv2 request (JSON or XML, any case of field names) into a native send document."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ElementTree
from typing import Any, Final

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from clarion.api.dialects.kit import Kind, Problem, read_json_object
from clarion.api.dialects.pushv2.errors import (
    PUSHV2,
    XSI_NAMESPACE,
    Format,
    all_missing,
    invalid,
)
from clarion.domain.message import MAX_TTL_SECONDS

_STRINGS: Final = ("UserId", "UserEmail", "UserExternalId", "Title", "Body", "IntegrationKey")
_INTEGERS: Final = ("ExpirySecs", "CompanyId")
_BOOLEANS: Final = ("Sound",)
_CANONICAL: Final = {name.lower(): name for name in (*_STRINGS, *_INTEGERS, *_BOOLEANS)}


def request_format(content_type: str | None) -> Format:
    """JSON or XML from the Content-Type; XML when there is none."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not media_type or media_type in ("application/xml", "text/xml"):
        return "xml"
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type.endswith("+xml"):
        return "xml"
    raise Problem(Kind.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {media_type!r} is not supported")


def response_format(requested: str | None, fallback: Format) -> Format:
    """The `format` query parameter, or the request's own format."""
    if requested is None or requested == "":
        return fallback
    lowered = requested.lower()
    if lowered == "json":
        return "json"
    if lowered == "xml":
        return "xml"
    raise invalid("format", "format must be json or xml")


def _coerce(name: str, value: Any, from_xml: bool) -> Any:
    if value is None:
        return None
    if name in _STRINGS:
        if not isinstance(value, str):
            raise invalid(name, f"{name} must be a string")
        return value
    if name in _BOOLEANS:
        if from_xml and isinstance(value, str) and value.strip().lower() in ("true", "1"):
            return True
        if from_xml and isinstance(value, str) and value.strip().lower() in ("false", "0", ""):
            return False
        if isinstance(value, bool):
            return value
        raise invalid(name, f"{name} must be true or false")
    if from_xml and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise invalid(name, f"{name} must be an integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, f"{name} must be an integer")
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
    return _known_fields(read_json_object(raw, PUSHV2), from_xml=False)


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
        raise Problem(Kind.UNREADABLE, "the body is not well-formed XML") from None
    if XSI_NAMESPACE not in declared:
        raise Problem(Kind.UNREADABLE, f'the root element must declare xmlns:i="{XSI_NAMESPACE}"')
    raw_fields: dict[str, Any] = {}
    for child in root:
        if child.get(f"{{{XSI_NAMESPACE}}}nil", "").lower() == "true":
            raw_fields[_local_name(child.tag)] = None
        else:
            raw_fields[_local_name(child.tag)] = (child.text or "").strip()
    return _known_fields(raw_fields, from_xml=True)


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
        raise all_missing(
            ("UserId", "UserEmail", "UserExternalId"),
            "at least one of UserId, UserEmail or UserExternalId is required",
        )
    content = {name.lower(): fields[name] for name in ("Title", "Body") if fields.get(name)}
    if fields.get("Sound"):
        content["sound"] = "default"
    options: dict[str, Any] = {}
    expiry = fields.get("ExpirySecs")
    if expiry is not None and expiry < 0:
        raise invalid("ExpirySecs", "ExpirySecs cannot be negative")
    if expiry is not None and expiry > MAX_TTL_SECONDS:
        raise invalid("ExpirySecs", f"ExpirySecs is at most {MAX_TTL_SECONDS} (28 days)")
    if expiry:
        options["ttl"] = expiry
    return {"recipients": recipients, "content": content, "options": options}, user_field
