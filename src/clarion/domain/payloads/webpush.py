"""Web Push request: the JSON plaintext a service worker receives, and the RFC 8030 headers.

Plaintext (encrypted later by the transport, RFC 8291): `title`, `body`, `icon`
(options.webpush.icon, else media.icon), `image` (media.picture), `badge`
(options.webpush.badge: the small monochrome image, not a count), `actions`
({"action": id, "title": label}, from options.webpush.actions or the content's),
`tag` (collapse_key, so a newer notification replaces an older one),
`requireInteraction`, `url` (the deeplink to open on click), `data` (custom data
as JSON) and `clarion` (deeplink, media, actions, landing). Browsers have no
subtitle or sound: those are not sent. A background push carries only `data`
and `clarion`; the service worker decides what to show.

Headers: TTL = ttl (28 days when unset, since RFC 8030 requires the header),
Urgency = options.webpush.urgency, else high for priority high, low for a
background push, normal otherwise; Topic = options.webpush.topic, else the
collapse_key when it is a valid topic (at most 32 URL-safe base64 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clarion.domain.limits import WEBPUSH_PLAINTEXT_LIMIT, BuiltPayload
from clarion.domain.message import CLARION_KEY, MAX_TTL_SECONDS, Content, Options
from clarion.domain.payloads.common import clarion_fields, to_json_bytes
from clarion.domain.vocabulary import Provider

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class WebPushPayload(BuiltPayload):
    """A Web Push request before encryption: headers and JSON plaintext."""


def webpush_headers(options: Options) -> dict[str, str]:
    """TTL, Urgency and (when possible) Topic headers."""
    urgency = options.webpush.urgency
    if urgency is None:
        if options.priority == "high":
            urgency = "high"
        elif options.push_type == "background":
            urgency = "low"
        else:
            urgency = "normal"
    headers = {
        "TTL": str(options.ttl if options.ttl is not None else MAX_TTL_SECONDS),
        "Urgency": urgency,
    }
    topic = options.webpush.topic
    if topic is None and options.collapse_key is not None and _TOPIC.match(options.collapse_key):
        topic = options.collapse_key
    if topic is not None:
        headers["Topic"] = topic
    return headers


def webpush_notification(content: Content, options: Options) -> dict[str, Any]:
    """The visible notification fields a service worker passes to showNotification."""
    actions = options.webpush.actions if options.webpush.actions is not None else content.actions
    candidates: dict[str, Any] = {
        "title": content.title,
        "body": content.body,
        "icon": options.webpush.icon or content.media.icon,
        "image": content.media.picture,
        "badge": options.webpush.badge,
        "tag": options.collapse_key,
    }
    notification = {key: value for key, value in candidates.items() if value is not None}
    if actions:
        notification["actions"] = [
            {"action": action.id, "title": action.label} for action in actions
        ]
    if options.webpush.require_interaction:
        notification["requireInteraction"] = True
    return notification


def build_webpush(content: Content, options: Options) -> WebPushPayload:
    """Build the Web Push plaintext and headers for one subscription."""
    document: dict[str, Any] = {}
    if options.push_type == "alert":
        document.update(webpush_notification(content, options))
        if content.deeplink is not None:
            document["url"] = content.deeplink
    if content.data:
        document["data"] = dict(content.data)
    extras = clarion_fields(content)
    if extras:
        document[CLARION_KEY] = extras
    body = to_json_bytes(document)
    return WebPushPayload(
        platform=Provider.WEBPUSH,
        headers=webpush_headers(options),
        body=body,
        limited_size=len(body),
        limit=WEBPUSH_PLAINTEXT_LIMIT,
    )
