"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

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


def key_param(value: int) -> ColumnElement[int]:
    """A cursor's or path's integer key as a 64-bit parameter.

    Compared with a narrower column (32-bit on PostgreSQL) it still compares, rather than
    failing as out of range: a key no row can have simply finds nothing.
    """
    return sa.literal(value, sa.BigInteger)
