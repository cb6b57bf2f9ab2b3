"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
from typing import Any

from clarion.domain.safe_input import UnsafeInput, loads_checked


class BadCursor(ValueError):
    """The cursor given by a client was not issued by this server."""


def encode_cursor(value: Any) -> str:
    """Encode the last seen sort key as an opaque cursor."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """Decode a cursor made by encode_cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # Checked like a request body: the decoded key goes into SQL as it is.
        return loads_checked(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, UnsafeInput) as exc:
        raise BadCursor(cursor) from exc
