"""Per-key request rate limits (moving window; shared through Redis when configured)."""

from __future__ import annotations

from limits import RateLimitItem, parse

from clarion.api.shared_limits import MovingWindows, SharedCounts


class RateLimited(Exception):
    """The caller's key is over its request rate; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, what: str = "too many requests") -> None:
        super().__init__(f"{what}; retry in {retry_after} s")
        self.retry_after = retry_after


class KeyRateLimiter:
    """Counts requests per API key against one rule such as "100/second"; empty disables it."""

    def __init__(self, rule: str, shared: SharedCounts | None = None) -> None:
        self._rule: RateLimitItem | None = parse(rule) if rule else None
        self._windows = MovingWindows("requests", shared)

    async def check(self, key_id: str) -> None:
        """Count one request of this key, or raise RateLimited when it is over the rule."""
        if self._rule is None:
            return
        if await self._windows.hit(self._rule, key_id):
            return
        raise RateLimited(await self._windows.retry_after(self._rule, key_id))
