"""FCM HTTP v1 request: the `message` object for one registration token.

Mapping:
- title/body -> notification.title/body; media.picture -> notification.image (and
  apns.fcm_options.image for iOS devices).
- Custom data -> data with string values (strings as is, other JSON values encoded
  as compact JSON); Clarion's fields (deeplink, media, actions, landing) -> data
  key "clarion" holding their JSON.
- Android: priority high -> HIGH, otherwise NORMAL; ttl -> android.ttl "<n>s";
  collapse_key -> android.collapse_key; sound -> android.notification.sound;
  category -> android.notification.click_action (FCM's counterpart of the APNs
  category); options.android_channel_id -> channel_id; badge (or the incremented
  count) -> notification_count.
- iOS through FCM: apns.headers and apns.payload.aps exactly as the APNs builder
  makes them (subtitle, badge, thread-id, mutable-content, content-available).
- Web through FCM: webpush.headers TTL/Urgency/Topic, webpush.notification
  (title, body, icon, image, badge, actions) and fcm_options.link = an https deeplink.
- push_type background: no notification blocks at all (a data message), APNs
  background headers and content-available.
- The 4096-byte FCM limit is measured on the JSON of notification plus data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from clarion.domain.limits import FCM_PAYLOAD_LIMIT, BuiltPayload
from clarion.domain.message import CLARION_KEY, Content, Options
from clarion.domain.payloads.apns import apns_headers, aps_dictionary
from clarion.domain.payloads.common import clarion_fields, resolve_badge, to_json_bytes
from clarion.domain.payloads.webpush import webpush_headers, webpush_notification
from clarion.domain.vocabulary import Provider

FCM_HEADERS = {"content-type": "application/json; charset=utf-8"}


@dataclass(frozen=True)
class FcmPayload(BuiltPayload):
    """An FCM v1 send request body ({"message": ...}) and the absolute badge sent."""

    badge: int | None = None


def string_data(data: dict[str, JsonValue]) -> dict[str, str]:
    """FCM data values must be strings: non-strings become compact JSON text."""
    return {
        key: value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        for key, value in data.items()
    }


def _android(content: Content, options: Options, badge: int | None) -> dict[str, Any]:
    android: dict[str, Any] = {"priority": "HIGH" if options.priority == "high" else "NORMAL"}
    if options.ttl is not None:
        android["ttl"] = f"{options.ttl}s"
    if options.collapse_key is not None:
        android["collapse_key"] = options.collapse_key
    if options.push_type == "background":
        return android
    notification: dict[str, Any] = {}
    if content.sound is not None:
        notification["sound"] = content.sound
    if content.category is not None:
        notification["click_action"] = content.category
    if options.android_channel_id is not None:
        notification["channel_id"] = options.android_channel_id
    if badge is not None:
        notification["notification_count"] = badge
    if notification:
        android["notification"] = notification
    return android


def _apns(
    content: Content, options: Options, badge: int | None, now: float | None
) -> dict[str, Any]:
    apns: dict[str, Any] = {
        "headers": apns_headers(options, None, now),
        "payload": {"aps": aps_dictionary(content, options, badge)},
    }
    if options.push_type == "alert" and content.media.picture is not None:
        apns["fcm_options"] = {"image": content.media.picture}
    return apns


def _webpush(content: Content, options: Options) -> dict[str, Any]:
    webpush: dict[str, Any] = {"headers": webpush_headers(options)}
    if options.push_type == "alert":
        webpush["notification"] = webpush_notification(content, options)
        if content.deeplink is not None and content.deeplink.startswith("https://"):
            webpush["fcm_options"] = {"link": content.deeplink}
    return webpush


def build_fcm(
    content: Content,
    options: Options,
    token: str,
    *,
    badge_count: int | None = None,
    now: float | None = None,
) -> FcmPayload:
    """Build the FCM v1 request for one registration token."""
    if not token:
        raise ValueError("an FCM registration token is required")
    background = options.push_type == "background"
    badge = None if background else resolve_badge(content, badge_count)
    message: dict[str, Any] = {"token": token}
    limited: dict[str, Any] = {}
    if not background:
        notification = {
            key: value
            for key, value in (
                ("title", content.title),
                ("body", content.body),
                ("image", content.media.picture),
            )
            if value is not None
        }
        if notification:
            message["notification"] = limited["notification"] = notification
    data = string_data(content.data)
    extras = clarion_fields(content)
    if extras:
        data[CLARION_KEY] = json.dumps(extras, ensure_ascii=False, separators=(",", ":"))
    if data:
        message["data"] = limited["data"] = data
    message["android"] = _android(content, options, badge)
    message["apns"] = _apns(content, options, badge, now)
    message["webpush"] = _webpush(content, options)
    return FcmPayload(
        platform=Provider.FCM,
        headers=dict(FCM_HEADERS),
        body=to_json_bytes({"message": message}),
        limited_size=len(to_json_bytes(limited)),
        limit=FCM_PAYLOAD_LIMIT,
        badge=badge,
    )
