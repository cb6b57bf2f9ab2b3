"""Unpadded URL-safe base64, as Web Push keys and VAPID use it."""

from __future__ import annotations

import base64


def b64url_encode(data: bytes) -> str:
    """Encode without '=' padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode with or without padding; also accepts the standard alphabet browsers sometimes use."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
