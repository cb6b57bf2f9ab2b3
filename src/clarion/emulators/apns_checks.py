"""Apple's request rules for `POST /3/device/{token}`: each failed rule gives a reason."""

from __future__ import annotations

import json
import re
from typing import Any

# Status of every reason the emulator answers with (Apple's documented table).
REASON_STATUS: dict[str, int] = {
    "BadCollapseId": 400,
    "BadDeviceToken": 400,
    "BadExpirationDate": 400,
    "BadMessageId": 400,
    "BadPayload": 400,
    "BadPriority": 400,
    "BadTopic": 400,
    "DeviceTokenNotForTopic": 400,
    "DuplicateHeaders": 400,
    "IdleTimeout": 400,
    "InvalidPushType": 400,
    "MissingDeviceToken": 400,
    "MissingTopic": 400,
    "PayloadEmpty": 400,
    "TopicDisallowed": 400,
    "BadCertificate": 403,
    "BadCertificateEnvironment": 403,
    "ExpiredProviderToken": 403,
    "Forbidden": 403,
    "InvalidProviderToken": 403,
    "MissingProviderToken": 403,
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "ExpiredToken": 410,
    "Unregistered": 410,
    "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "Shutdown": 503,
}

PUSH_TYPES = frozenset(
    {
        b"alert",
        b"background",
        b"location",
        b"voip",
        b"complication",
        b"fileprovider",
        b"mdm",
        b"liveactivity",
        b"pushtotalk",
        b"widgets",
        b"controls",
    }
)
PRIORITIES = frozenset({b"10", b"5", b"1"})
MAX_PAYLOAD = 4096
MAX_VOIP_PAYLOAD = 5120
MAX_COLLAPSE_ID = 64
DEVICE_PATH_PREFIX = "/3/device/"

_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEADERS_ONCE = (
    b"authorization",
    b"apns-topic",
    b"apns-push-type",
    b"apns-priority",
    b"apns-expiration",
    b"apns-collapse-id",
    b"apns-id",
)


def status_for_reason(reason: str) -> int | None:
    """The HTTP status Apple pairs with `reason`, if it is a known one."""
    return REASON_STATUS.get(reason)


def check_route(method: bytes, path: str) -> str | None:
    """BadPath / MethodNotAllowed / MissingDeviceToken for a request line."""
    if not path.startswith(DEVICE_PATH_PREFIX):
        return "BadPath"
    if method != b"POST":
        return "MethodNotAllowed"
    if path == DEVICE_PATH_PREFIX:
        return "MissingDeviceToken"
    return None


def check_duplicates(header_list: list[tuple[bytes, bytes]]) -> str | None:
    """DuplicateHeaders when an APNs header appears twice."""
    seen: set[bytes] = set()
    for name, _ in header_list:
        if name in _HEADERS_ONCE:
            if name in seen:
                return "DuplicateHeaders"
            seen.add(name)
    return None


def check_headers(headers: dict[bytes, bytes]) -> str | None:
    """The reason the APNs headers (other than auth and topic) are refused, if any."""
    push_type = headers.get(b"apns-push-type")
    if push_type is not None and push_type not in PUSH_TYPES:
        return "InvalidPushType"
    priority = headers.get(b"apns-priority")
    if priority is not None and priority not in PRIORITIES:
        return "BadPriority"
    expiration = headers.get(b"apns-expiration")
    if expiration is not None and not expiration.isdigit():
        return "BadExpirationDate"
    collapse_id = headers.get(b"apns-collapse-id")
    if collapse_id is not None and len(collapse_id) > MAX_COLLAPSE_ID:
        return "BadCollapseId"
    apns_id = headers.get(b"apns-id")
    if apns_id is not None and _UUID.fullmatch(apns_id) is None:
        return "BadMessageId"
    return None


def is_uuid(value: bytes) -> bool:
    """Whether an apns-id is a canonical UUID (8-4-4-4-12 hex digits)."""
    return _UUID.fullmatch(value) is not None


def check_device_token(token: str) -> str | None:
    """BadDeviceToken unless the token is 32 to 100 bytes of hex."""
    return None if _TOKEN.fullmatch(token) else "BadDeviceToken"


def payload_limit(headers: dict[bytes, bytes]) -> int:
    """The payload size limit in bytes for this push type."""
    return MAX_VOIP_PAYLOAD if headers.get(b"apns-push-type") == b"voip" else MAX_PAYLOAD


def parse_payload(body: bytes, limit: int) -> str | dict[str, Any]:
    """The payload as a JSON object, or PayloadEmpty / PayloadTooLarge / BadPayload."""
    if not body:
        return "PayloadEmpty"
    if len(body) > limit:
        return "PayloadTooLarge"
    try:
        document = json.loads(body)
    except ValueError:
        return "BadPayload"
    return document if isinstance(document, dict) else "BadPayload"
