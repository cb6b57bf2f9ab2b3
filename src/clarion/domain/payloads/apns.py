"""APNs request: HTTP/2 headers and JSON body from a rendered content.

Mapping:
- title/subtitle/body -> aps.alert; sound -> aps.sound ("default" plays the system
  sound); badge -> aps.badge, badge_increment -> aps.badge computed from the
  caller's known count; thread_id -> aps.thread-id; category -> aps.category.
- Media (picture, audio, video) or options.mutable_content -> aps.mutable-content 1,
  so the notification service extension can fetch the attachment from clarion.media.
- push_type background -> apns-push-type background, apns-priority 5 (Apple
  requires it) and aps.content-available 1 with no alert, sound or badge;
  options.content_available adds content-available to an alert too.
- priority high or unset -> apns-priority 10, normal -> 5; ttl -> apns-expiration
  (now + ttl); collapse_key -> apns-collapse-id; topic (bundle id) -> apns-topic.
- Custom data keys sit at the top level beside "aps"; deeplink, media, actions and
  the in-app landing travel under "clarion" (see payloads.common.clarion_fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clarion.domain.limits import APNS_PAYLOAD_LIMIT, BuiltPayload
from clarion.domain.message import CLARION_KEY, Content, Options
from clarion.domain.payloads.common import (
    clarion_fields,
    expiration,
    needs_attachment_extension,
    resolve_badge,
    to_json_bytes,
)
from clarion.domain.vocabulary import Provider


@dataclass(frozen=True)
class ApnsPayload(BuiltPayload):
    """An APNs request; `badge` is the absolute badge sent, for the caller to remember."""

    badge: int | None = None


def aps_dictionary(content: Content, options: Options, badge: int | None) -> dict[str, Any]:
    """The "aps" dictionary for a content (shared with FCM's apns override)."""
    aps: dict[str, Any] = {}
    background = options.push_type == "background"
    if not background:
        alert = {
            key: value
            for key, value in (
                ("title", content.title),
                ("subtitle", content.subtitle),
                ("body", content.body),
            )
            if value is not None
        }
        if alert:
            aps["alert"] = alert
        if content.sound is not None:
            aps["sound"] = content.sound
        if badge is not None:
            aps["badge"] = badge
        if needs_attachment_extension(content, options):
            aps["mutable-content"] = 1
    if content.thread_id is not None:
        aps["thread-id"] = content.thread_id
    if content.category is not None:
        aps["category"] = content.category
    if background or options.content_available:
        aps["content-available"] = 1
    return aps


def apns_headers(options: Options, topic: str | None, now: float | None) -> dict[str, str]:
    """The apns-* request headers (apns-topic only when a topic is given)."""
    background = options.push_type == "background"
    headers = {
        "apns-push-type": "background" if background else "alert",
        "apns-priority": "5" if background or options.priority == "normal" else "10",
    }
    if topic is not None:
        headers["apns-topic"] = topic
    expires = expiration(options, now)
    if expires is not None:
        headers["apns-expiration"] = str(expires)
    if options.collapse_key is not None:
        headers["apns-collapse-id"] = options.collapse_key
    return headers


def build_apns(
    content: Content,
    options: Options,
    topic: str,
    *,
    badge_count: int | None = None,
    now: float | None = None,
) -> ApnsPayload:
    """Build the APNs request for one device; `now` (UNIX seconds) anchors apns-expiration."""
    if not topic:
        raise ValueError("an APNs topic (the app's bundle id) is required")
    badge = None if options.push_type == "background" else resolve_badge(content, badge_count)
    document: dict[str, Any] = dict(content.data)
    document["aps"] = aps_dictionary(content, options, badge)
    extras = clarion_fields(content)
    if extras:
        document[CLARION_KEY] = extras
    body = to_json_bytes(document)
    return ApnsPayload(
        platform=Provider.APNS,
        headers=apns_headers(options, topic, now),
        body=body,
        limited_size=len(body),
        limit=APNS_PAYLOAD_LIMIT,
        badge=badge,
    )
