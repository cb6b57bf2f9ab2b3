"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
from typing import Any


class BadCursor(ValueError):
    """The cursor given by a client was not issued by this server."""


def encode_cursor(value: Any) -> str:
    """Encode the last seen sort key as an opaque cursor."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """Decode a cursor made by encode_cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor(cursor) from exc
