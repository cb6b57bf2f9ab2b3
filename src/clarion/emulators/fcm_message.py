"""FCM HTTP v1 `messages:send` body rules: structure, types, target, TTL and size."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 4096
MAX_TTL_SECONDS = 28 * 24 * 3600
TARGET_FIELDS = ("token", "topic", "condition")

_TTL = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")
_TOPIC = re.compile(r"(?:/topics/)?[a-zA-Z0-9\-_.~%]{1,900}")
_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]{1,4096}")
_LABEL = re.compile(r"[a-zA-Z0-9\-_.~%]{1,50}")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_CONDITION_TERM = re.compile(r"""(['"])[a-zA-Z0-9\-_.~%]+\1\s+in\s+topics""")
_CONDITION_TOKEN = re.compile(r"T|&&|\|\||[()!]")
MAX_CONDITION_TOPICS = 5


class Violation(ValueError):
    """A field of the request that FCM would refuse, with the path to it."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


@dataclass(frozen=True)
class SendRequest:
    """A validated send: the message, its target kind and value, and validate_only."""

    message: dict[str, Any]
    target_kind: str
    target: str
    validate_only: bool


def _snake(name: str) -> str:
    # The proto JSON mapping accepts both `collapseKey` and `collapse_key`.
    return _CAMEL.sub("_", name).lower()


Check = Callable[[Any, str], None]


def _object(fields: dict[str, Check]) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise Violation(path, "must be an object")
        for name, item in value.items():
            rule = fields.get(_snake(name))
            if rule is None:
                raise Violation(f"{path}.{name}", f'Unknown name "{name}": Cannot find field.')
            rule(item, f"{path}.{_snake(name)}")

    return check


def _string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise Violation(path, "must be a string")


def _boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise Violation(path, "must be a boolean")


def _integer(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Violation(path, "must be an integer")


def _any_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise Violation(path, "must be an object")


def _string_map(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise Violation(path, "must be a map of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise Violation(f"{path}[{key}]", "map values must be strings")


def _label(value: Any, path: str) -> None:
    if not isinstance(value, str) or _LABEL.fullmatch(value) is None:
        raise Violation(path, "analytics label must match [a-zA-Z0-9-_.~%]{1,50}")


def _ttl(value: Any, path: str) -> None:
    match = _TTL.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Violation(path, 'must be a duration such as "3.5s"')
    if int(match.group(1)) > MAX_TTL_SECONDS:
        raise Violation(path, "must not exceed 28 days")


def _android_priority(value: Any, path: str) -> None:
    if value not in ("NORMAL", "HIGH", "normal", "high"):
        raise Violation(path, "must be NORMAL or HIGH")


def _notification_priority(value: Any, path: str) -> None:
    allowed = ("PRIORITY_UNSPECIFIED", "PRIORITY_MIN", "PRIORITY_LOW", "PRIORITY_DEFAULT")
    if value not in (*allowed, "PRIORITY_HIGH", "PRIORITY_MAX"):
        raise Violation(path, "is not a notification priority")


def _visibility(value: Any, path: str) -> None:
    if value not in ("VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"):
        raise Violation(path, "is not a visibility")


def _string_list(value: Any, path: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Violation(path, "must be a list of strings")


def _https_link(value: Any, path: str) -> None:
    if not isinstance(value, str) or not value.startswith("https://"):
        raise Violation(path, "must be an HTTPS URL")


_NOTIFICATION = _object({"title": _string, "body": _string, "image": _string})
_ANDROID_NOTIFICATION = _object(
    {
        "title": _string,
        "body": _string,
        "icon": _string,
        "color": _string,
        "sound": _string,
        "tag": _string,
        "click_action": _string,
        "body_loc_key": _string,
        "body_loc_args": _string_list,
        "title_loc_key": _string,
        "title_loc_args": _string_list,
        "channel_id": _string,
        "ticker": _string,
        "sticky": _boolean,
        "event_time": _string,
        "local_only": _boolean,
        "notification_priority": _notification_priority,
        "default_sound": _boolean,
        "default_vibrate_timings": _boolean,
        "default_light_settings": _boolean,
        "vibrate_timings": _string_list,
        "visibility": _visibility,
        "notification_count": _integer,
        "light_settings": _any_object,
        "image": _string,
        "bypass_proxy_notification": _boolean,
        "proxy": _string,
    }
)
_MESSAGE = _object(
    {
        "name": _string,
        "data": _string_map,
        "notification": _NOTIFICATION,
        "android": _object(
            {
                "collapse_key": _string,
                "priority": _android_priority,
                "ttl": _ttl,
                "restricted_package_name": _string,
                "data": _string_map,
                "notification": _ANDROID_NOTIFICATION,
                "fcm_options": _object({"analytics_label": _label}),
                "direct_boot_ok": _boolean,
                "restricted_satellite_ok": _boolean,
            }
        ),
        "webpush": _object(
            {
                "headers": _string_map,
                "data": _string_map,
                "notification": _any_object,
                "fcm_options": _object({"link": _https_link, "analytics_label": _label}),
            }
        ),
        "apns": _object(
            {
                "headers": _string_map,
                "payload": _any_object,
                "fcm_options": _object({"analytics_label": _label, "image": _string}),
                "live_activity_token": _string,
            }
        ),
        "fcm_options": _object({"analytics_label": _label}),
        "token": _string,
        "topic": _string,
        "condition": _string,
    }
)


def _target(message: dict[str, Any]) -> tuple[str, str]:
    present = [name for name in TARGET_FIELDS if name in message]
    if len(present) != 1:
        raise Violation("message", "exactly one of token, topic or condition must be set")
    kind = present[0]
    value: str = message[kind]
    if kind == "token" and _TOKEN.fullmatch(value) is None:
        raise Violation(
            "message.token", "The registration token is not a valid FCM registration token"
        )
    if kind == "topic" and _TOPIC.fullmatch(value) is None:
        raise Violation("message.topic", "Invalid topic name")
    if kind == "condition" and not _valid_condition(value):
        raise Violation("message.condition", "Invalid condition expression")
    return kind, value


def _valid_condition(condition: str) -> bool:
    """1 to 5 `'topic' in topics` terms joined by && and || (with ! and parentheses)."""
    terms = _CONDITION_TERM.findall(condition)
    if not 1 <= len(terms) <= MAX_CONDITION_TOPICS:
        return False
    tokens = _CONDITION_TOKEN.findall(_CONDITION_TERM.sub(" T ", condition))
    if "".join(tokens) != "".join(_CONDITION_TERM.sub("T", condition).split()):
        return False
    position = _condition_expression(tokens, 0)
    return position == len(tokens)


def _condition_expression(tokens: list[str], position: int) -> int:
    """Index after an expression starting at `position`, or -1 if there is none."""
    position = _condition_term(tokens, position)
    while position != -1 and position < len(tokens) and tokens[position] in ("&&", "||"):
        position = _condition_term(tokens, position + 1)
    return position


def _condition_term(tokens: list[str], position: int) -> int:
    if position < len(tokens) and tokens[position] == "!":
        position += 1
    if position >= len(tokens):
        return -1
    if tokens[position] == "T":
        return position + 1
    if tokens[position] == "(":
        position = _condition_expression(tokens, position + 1)
        if position != -1 and position < len(tokens) and tokens[position] == ")":
            return position + 1
    return -1


def payload_size(message: dict[str, Any]) -> int:
    """Bytes counted against the limit: the compact JSON message without its target."""
    counted = {name: value for name, value in message.items() if name not in TARGET_FIELDS}
    return len(json.dumps(counted, separators=(",", ":"), ensure_ascii=False).encode())


def parse_send_request(document: Any) -> SendRequest:
    """Validate a `messages:send` body; raises Violation on the first problem."""
    if not isinstance(document, dict):
        raise Violation("", "the request body must be a JSON object")
    validate_only = False
    message: Any = None
    for name, value in document.items():
        key = _snake(name)
        if key == "message":
            message = value
        elif key == "validate_only":
            _boolean(value, "validate_only")
            validate_only = value
        else:
            raise Violation(name, f'Unknown name "{name}": Cannot find field.')
    if message is None:
        raise Violation("message", "is required")
    _MESSAGE(message, "message")
    kind, target = _target(message)
    if payload_size(message) > MAX_MESSAGE_BYTES:
        raise Violation("message", "Message is too big")
    return SendRequest(message, kind, target, validate_only)
