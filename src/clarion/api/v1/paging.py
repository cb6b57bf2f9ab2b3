"""Query parameters and response envelope shared by list routes."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from clarion.api.errors import malformed
from clarion.store.pagination import BadCursor, decode_cursor, encode_cursor


class Page:
    """A parsed `?limit=&cursor=` pair."""

    def __init__(
        self,
        limit: int = Query(50, ge=1, le=500, description="Items per page"),
        cursor: str | None = Query(None, max_length=200, description="Cursor from next_cursor"),
    ) -> None:
        self.limit = limit
        self.cursor = cursor

    def after_int(self) -> int | None:
        """The cursor as an integer sort key."""
        value = self._decoded()
        # A boolean is an int to Python but never a sort key of ours.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise malformed("cursor", "this cursor was not issued by this list")
        return value

    def after_str(self) -> str | None:
        """The cursor as a string sort key."""
        value = self._decoded()
        if value is not None and not isinstance(value, str):
            raise malformed("cursor", "this cursor was not issued by this list")
        return value

    def _decoded(self) -> Any:
        if self.cursor is None:
            return None
        try:
            return decode_cursor(self.cursor)
        except BadCursor as exc:
            raise malformed("cursor", "this cursor was not issued by this server") from exc

    def envelope(self, items: list[dict[str, Any]], last_key: Any) -> dict[str, Any]:
        """Wrap a page of items with the cursor of the next page."""
        next_cursor = encode_cursor(last_key) if len(items) == self.limit else None
        return {"data": items, "next_cursor": next_cursor}
