"""Turn a batch transactional document into the native send document, field by field."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from clarion.api.dialects.batch.errors import malformed, missing
from clarion.domain.message import RESERVED_DATA_KEYS, RESERVED_DATA_PREFIXES
from clarion.domain.recipients import MAX_RECIPIENTS
from clarion.domain.safe_input import UnsafeInput, loads_checked

_GROUP_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOP_LEVEL: Final = frozenset(
    {
        "group_id",
        "labels",
        "priority",
        "time_to_live",
        "gcm_collapse_key",
        "push_type",
        "skip_media_check",
        "recipients",
        "message",
        "messages",
        "media",
        "deeplink",
        "sandbox",
        "wp_template",
        "custom_payload",
        "landing",
    }
)
#: batch recipient list -> native recipient list.
RECIPIENT_KINDS: Final = {
    "tokens": "tokens",
    "custom_ids": "external_ids",
    "install_ids": "installation_ids",
    "advertising_ids": "advertising_ids",
}
_MESSAGE_FIELDS: Final = frozenset({"title", "body"})
_MEDIA_KINDS: Final = ("icon", "picture", "audio", "video")
WP_TEMPLATES: Final = ("legacy", "generic")
DEFAULT_COLLAPSE_KEY: Final = "default"
#: Keys the platform drops from custom payloads instead of refusing the send.
DROPPED_PAYLOAD_KEYS: Final = frozenset({"com.batch"}) | RESERVED_DATA_KEYS


def _object(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed(name, f"{name} must be an object")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise malformed(field, f"{field} must be a string")
    return value


def _boolean(value: Any, field: str) -> bool:
    # The platform's own examples send "true" as a string, so both forms are accepted.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise malformed(field, f"{field} must be true or false")


def _group_id(document: dict[str, Any]) -> str:
    if "group_id" not in document or document["group_id"] in (None, ""):
        raise missing("group_id")
    group_id = _string(document["group_id"], "group_id")
    if not _GROUP_ID.match(group_id):
        raise malformed("group_id", "group_id only allows letters, digits, _ and - (256 at most)")
    return group_id


def _recipients(document: dict[str, Any]) -> dict[str, list[str]]:
    raw = _object(document, "recipients")
    if raw is None:
        raise missing("recipients")
    native: dict[str, list[str]] = {}
    for name, value in raw.items():
        field = f"recipients.{name}"
        if name not in RECIPIENT_KINDS:
            raise malformed(field, f"unknown recipient kind {name!r}")
        if not isinstance(value, list):
            raise malformed(field, f"{field} must be an array of strings")
        for index, item in enumerate(value):
            _string(item, f"{field}[{index}]")
        if value:
            native[RECIPIENT_KINDS[name]] = value
    total = sum(len(values) for values in native.values())
    if total > MAX_RECIPIENTS:
        raise malformed(
            "recipients", f"{total} recipients given, at most {MAX_RECIPIENTS} are allowed"
        )
    if not native:
        raise missing(
            "recipients", "recipients needs tokens, custom_ids, install_ids or advertising_ids"
        )
    return native


def _message(raw: Any, field: str, *, localized: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise malformed(field, f"{field} must be an object")
    allowed = _MESSAGE_FIELDS | ({"language"} if localized else set())
    for name in raw:
        if name not in allowed:
            raise malformed(f"{field}.{name}", f"unknown field {name!r} in {field}")
    if raw.get("body") in (None, ""):
        raise missing(f"{field}.body")
    content: dict[str, Any] = {"body": _string(raw["body"], f"{field}.body")}
    if raw.get("title") is not None:
        content["title"] = _string(raw["title"], f"{field}.title")
    if localized and raw.get("language") is not None:
        content["language"] = _string(raw["language"], f"{field}.language")
    return content


def _contents(document: dict[str, Any], background: bool) -> list[dict[str, Any]]:
    """Native contents from `message` or `messages` (each without the shared parts yet)."""
    has_one, has_many = document.get("message") is not None, document.get("messages") is not None
    if has_one and has_many:
        raise malformed("messages", "message and messages conflict: send one of them")
    if background:
        if has_one or has_many:
            name = "message" if has_one else "messages"
            raise malformed(name, f"{name} is not allowed when push_type is background")
        return [{}]
    if has_one:
        return [_message(document["message"], "message", localized=False)]
    if not has_many:
        raise missing("message", "message (or messages) is required")
    raw = document["messages"]
    if not isinstance(raw, list) or not raw:
        raise malformed("messages", "messages must be a non-empty array")
    contents = [
        _message(item, f"messages[{index}]", localized=True) for index, item in enumerate(raw)
    ]
    if sum(1 for content in contents if "language" not in content) != 1:
        raise malformed(
            "messages", "one and only one message without language (the fallback) is required"
        )
    return contents


def _media(document: dict[str, Any], background: bool) -> dict[str, str] | None:
    raw = _object(document, "media")
    if raw is None:
        return None
    if background:
        raise malformed("media", "media is not allowed when push_type is background")
    media: dict[str, str] = {}
    for name, value in raw.items():
        if name not in _MEDIA_KINDS:
            raise malformed(f"media.{name}", f"unknown media kind {name!r}")
        media[name] = _string(value, f"media.{name}")
    return media


def custom_payload(value: Any) -> dict[str, Any]:
    """Parse the JSON string; keys the platform reserves are dropped, as it documents."""
    text = _string(value, "custom_payload")
    try:
        parsed = loads_checked(text, "custom_payload")
    except json.JSONDecodeError:
        raise malformed("custom_payload", "custom_payload is not a valid JSON string") from None
    except UnsafeInput as exc:
        raise malformed(exc.field or "custom_payload", exc.message) from None
    if not isinstance(parsed, dict):
        raise malformed("custom_payload", "custom_payload must encode a JSON object")
    return {
        key: item
        for key, item in parsed.items()
        if key.lower() not in DROPPED_PAYLOAD_KEYS
        and not key.lower().startswith(RESERVED_DATA_PREFIXES)
    }


def _collapse_key(value: Any) -> str | None:
    if not isinstance(value, dict):
        raise malformed("gcm_collapse_key", "gcm_collapse_key must be an object")
    for name in value:
        if name not in ("enabled", "key"):
            raise malformed(f"gcm_collapse_key.{name}", f"unknown field {name!r}")
    enabled = _boolean(value.get("enabled", True), "gcm_collapse_key.enabled")
    key = value.get("key", DEFAULT_COLLAPSE_KEY)
    key = _string(key, "gcm_collapse_key.key")
    return key if enabled else None


def _options(document: dict[str, Any], push_type: str) -> dict[str, Any]:
    options: dict[str, Any] = {"push_type": push_type}
    if document.get("priority") is not None:
        options["priority"] = _string(document["priority"], "priority")
    if document.get("time_to_live") is not None:
        ttl = document["time_to_live"]
        if isinstance(ttl, bool) or not isinstance(ttl, int):
            raise malformed("time_to_live", "time_to_live must be an integer number of seconds")
        options["ttl"] = ttl
    if document.get("gcm_collapse_key") is not None:
        key = _collapse_key(document["gcm_collapse_key"])
        if key is not None:
            options["collapse_key"] = key
    if document.get("labels") is not None:
        labels = document["labels"]
        if not isinstance(labels, list):
            raise malformed("labels", "labels must be an array of strings")
        options["labels"] = [_string(item, f"labels[{i}]") for i, item in enumerate(labels)]
    for name in ("sandbox", "skip_media_check"):
        if document.get(name) is not None:
            options[name] = _boolean(document[name], name)
    return options


def _push_type(document: dict[str, Any]) -> str:
    value = document.get("push_type", "alert")
    if value not in ("alert", "background"):
        raise malformed("push_type", "push_type must be alert or background")
    return str(value)


def _check_token_rules(document: dict[str, Any], recipients: dict[str, list[str]]) -> None:
    # The platform cannot know the language or the user of a bare token.
    if "tokens" not in recipients:
        return
    if document.get("labels"):
        raise malformed("labels", "labels are not supported for token recipients")
    if document.get("messages") is not None:
        raise malformed("messages", "messages are not supported for token recipients")


def native_document(document: dict[str, Any], app_id: str) -> dict[str, Any]:
    """Validate a batch document and build the native send document for one app."""
    for name in document:
        if name not in _TOP_LEVEL:
            raise malformed(name, f"unknown parameter {name!r}")
    _group_id(document)
    push_type = _push_type(document)
    background = push_type == "background"
    recipients = _recipients(document)
    _check_token_rules(document, recipients)
    contents = _contents(document, background)
    shared: dict[str, Any] = {}
    media = _media(document, background)
    if media:
        shared["media"] = media
    if document.get("deeplink") is not None:
        if document.get("landing") is not None:
            raise malformed("deeplink", "deeplink and landing conflict: send one of them")
        shared["deeplink"] = _string(document["deeplink"], "deeplink")
    if document.get("custom_payload") is not None:
        shared["data"] = custom_payload(document["custom_payload"])
    landing = _object(document, "landing")
    if landing is not None:
        shared["landing"] = landing
    if document.get("wp_template") is not None and document["wp_template"] not in WP_TEMPLATES:
        raise malformed("wp_template", "wp_template must be legacy or generic")
    contents = [content | shared for content in contents]
    native: dict[str, Any] = {
        "recipients": recipients,
        "apps": [app_id],
        "options": _options(document, push_type),
    }
    if document.get("messages") is not None:
        native["contents"] = contents
    else:
        native["content"] = contents[0]
    return native
