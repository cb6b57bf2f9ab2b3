"""Typed OpenAPI schemas for the request fields the domain validates itself.

The send, template, preview and segment bodies keep those fields as plain JSON at
run time (the domain parses them once, with its own errors), so typing them in the
request models would validate twice. The published schema instead describes each
with the domain model that validates it: same rules, no cost per request.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from clarion.domain.broadcast import Audience, Schedule
from clarion.domain.engagement import MAX_INBOX_SECONDS, MAX_SENDER_CHARS, MAX_SMS_CHARS
from clarion.domain.message import Content, LocalizedContent, Options
from clarion.domain.recipients import Recipients
from clarion.domain.segment_filter import SegmentFilter
from clarion.domain.throttle import MAX_MESSAGES, MAX_PER_MINUTES


class Inbox(BaseModel):
    """Store the message in each targeted contact's inbox."""

    model_config = ConfigDict(extra="forbid")
    expires_in: int | None = Field(
        None, ge=1, le=MAX_INBOX_SECONDS, description="Seconds the item is kept"
    )


class SmsFallback(BaseModel):
    """An SMS to each contact no push reached (the body is a Liquid template)."""

    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=MAX_SMS_CHARS)
    sender: str | None = Field(None, min_length=1, max_length=MAX_SENDER_CHARS)


class Throttle(BaseModel):
    """At most `messages` deliveries start in each window of `per_minutes` minutes."""

    model_config = ConfigDict(extra="forbid")
    messages: int = Field(ge=1, le=MAX_MESSAGES)
    per_minutes: int = Field(ge=1, le=MAX_PER_MINUTES)


#: What users read about each component (the domain's docstrings speak to developers).
DESCRIPTIONS = {
    "Recipients": "Named recipients, at most 10,000 in all: each kind is a list; "
    "`all_devices` reaches every device of each external id (else its 10 most recent).",
    "Audience": "A broadcast's audience, exactly one of: `all`, `list_id`, `segment_id`, "
    "`filter` (an inline segment filter).",
    "Schedule": "Either `at` (a UTC instant), or, for broadcasts, `local_time` and `date` "
    "in each recipient's time zone with `past_time` saying what to do when it has passed.",
    "Content": "What the notification says and carries. Text fields are Liquid templates.",
    "LocalizedContent": "A content for one language (`language`); exactly one content of "
    "a list has no language: the fallback.",
    "Options": "Delivery options: priority, time to live, collapse key, push type, ...",
    "SegmentFilter": "Conditions on installations and contacts; all of them must hold.",
}

_DOMAIN_MODELS: tuple[type[BaseModel], ...] = (
    Recipients,
    Audience,
    Schedule,
    Content,
    LocalizedContent,
    Options,
    SegmentFilter,
    Inbox,
    SmsFallback,
    Throttle,
)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


#: Request model -> field -> the schema it is published with.
TYPED_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "SendIn": {
        "recipients": _ref("Recipients"),
        "audience": _ref("Audience"),
        "schedule": _ref("Schedule"),
        "content": _ref("Content"),
        "contents": _list_of("LocalizedContent"),
        "options": _ref("Options"),
        "inbox": _ref("Inbox"),
        "sms_fallback": _ref("SmsFallback"),
        "throttle": _ref("Throttle"),
    },
    "PreviewIn": {
        "content": _ref("Content"),
        "contents": _list_of("LocalizedContent"),
        "options": _ref("Options"),
    },
    "TemplateIn": {"contents": _list_of("LocalizedContent"), "options": _ref("Options")},
    "TemplatePatch": {"contents": _list_of("LocalizedContent"), "options": _ref("Options")},
    "SegmentIn": {"filter": _ref("SegmentFilter")},
}


def type_request_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace the untyped request fields of an OpenAPI document with the domain's schemas."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema(
        [(model, "validation") for model in _DOMAIN_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    for name, definition in definitions.get("$defs", {}).items():
        if name in components and name not in DESCRIPTIONS:
            continue
        if name in DESCRIPTIONS:
            definition["description"] = DESCRIPTIONS[name]
        components[name] = definition
    for model, fields in TYPED_FIELDS.items():
        properties = components.get(model, {}).get("properties", {})
        for field, typed in fields.items():
            if field not in properties:
                continue
            old = properties[field]
            described = {"description": old["description"]} if "description" in old else {}
            nullable = any(option.get("type") == "null" for option in old.get("anyOf", []))
            shape = {"anyOf": [typed, {"type": "null"}]} if nullable else dict(typed)
            properties[field] = shape | described
    return schema


def install_typed_openapi(app: FastAPI) -> None:
    """Publish the typed schema at /openapi.json (built once, on first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = type_request_fields(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
