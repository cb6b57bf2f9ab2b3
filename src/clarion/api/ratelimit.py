"""Per-key request rate limits (moving window, kept in this process's memory)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class RateLimited(Exception):
    """The caller's key is over its request rate; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, what: str = "too many requests") -> None:
        super().__init__(f"{what}; retry in {retry_after} s")
        self.retry_after = retry_after


class KeyRateLimiter:
    """Counts requests per API key against one rule such as "100/second"; empty disables it."""

    def __init__(self, rule: str) -> None:
        self._rule: RateLimitItem | None = parse(rule) if rule else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, key_id: str) -> None:
        """Count one request of this key, or raise RateLimited when it is over the rule."""
        if self._rule is None:
            return
        if await self._limiter.hit(self._rule, key_id):
            return
        stats = await self._limiter.get_window_stats(self._rule, key_id)
        raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))
