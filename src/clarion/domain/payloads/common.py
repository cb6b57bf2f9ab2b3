"""Pieces shared by the payload builders: JSON bytes, Clarion's own fields, badge, expiry."""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import JsonValue

from clarion.domain.message import Content, Media, Options

#: Media that an iOS notification service extension downloads as attachments.
ATTACHMENT_MEDIA = ("picture", "audio", "video")


def to_json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON; text that UTF-8 cannot hold (lone surrogates) is escaped instead."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def media_fields(media: Media) -> dict[str, str]:
    """The set media URLs by kind."""
    return {str(key): str(value) for key, value in media.model_dump(exclude_none=True).items()}


def clarion_fields(content: Content) -> dict[str, JsonValue]:
    """Clarion's own fields, sent under the "clarion" key on every platform.

    Holds `deeplink`, `media` (URLs by kind), `actions` (id, label, deeplink) and
    `landing` (the in-app view, with its localized contents) when they are set.
    """
    fields: dict[str, JsonValue] = {}
    if content.deeplink is not None:
        fields["deeplink"] = content.deeplink
    media: dict[str, JsonValue] = dict(media_fields(content.media))
    if media:
        fields["media"] = media
    if content.actions:
        fields["actions"] = [
            action.model_dump(mode="json", exclude_none=True) for action in content.actions
        ]
    if content.landing is not None:
        fields["landing"] = content.landing.model_dump(mode="json", exclude_defaults=True)
    return fields


def resolve_badge(content: Content, badge_count: int | None) -> int | None:
    """The absolute badge to show: `badge`, or the known count plus `badge_increment`.

    No provider can add to a badge, so an increment is applied to the count the
    caller knows for the installation (0 when unknown) and never goes below 0.
    """
    if content.badge is not None:
        return content.badge
    if content.badge_increment is not None:
        return max(0, (badge_count or 0) + content.badge_increment)
    return None


def needs_attachment_extension(content: Content, options: Options) -> bool:
    """mutable-content is set when asked, or when media must be downloaded on iOS."""
    return options.mutable_content or any(
        getattr(content.media, kind) is not None for kind in ATTACHMENT_MEDIA
    )


def expiration(options: Options, now: float | None) -> int | None:
    """The absolute UNIX time after which APNs drops the notification, from the ttl."""
    if options.ttl is None:
        return None
    return int(time.time() if now is None else now) + options.ttl
