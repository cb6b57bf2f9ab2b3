"""Moving-window counters kept in Redis, so every API process counts against the same limit.

Without a Redis URL each process counts in its own memory, as a single process always
has. With one, counts live in Redis. When Redis cannot be reached, a check never waits
on it nor refuses a request for it: the count goes to this process's memory instead
(a warning at the start of the outage, `clarion_rate_limit_local_total`), and Redis is
tried again a few seconds later. So limits fail open to per-process limits.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from clarion.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A call to Redis slower than this counts as Redis being unreachable.
REDIS_TIMEOUT_SECONDS = 0.5
#: After Redis failed, checks stay in this process's memory this long before trying again.
REDIS_RETRY_SECONDS = 5.0
#: What a failing Redis call can raise, whichever layer notices first.
REDIS_FAILURES = (StorageError, RedisError, OSError, asyncio.TimeoutError)

LOCAL_COUNTS = Counter(
    "clarion_rate_limit_local_total",
    "Rate limit checks counted in this process's memory because Redis could not be reached",
    ["limit"],
)


def redacted(url: str) -> str:
    """The URL without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


class SharedCounts:
    """The Redis connection every limit of one process counts through."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self._pool = ConnectionPool.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        storage = RedisStorage(
            "async+" + url,
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=prefix,
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self._down_until = 0.0
        self._down = False

    async def check(self) -> bool:
        """Tell whether Redis answers now; log a warning when it does not."""
        client = Redis(connection_pool=self._pool)

        async def ping(_limiter: MovingWindowRateLimiter) -> bool:
            answer = client.ping()
            # redis-py types its commands for both its sync and async clients.
            return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

        try:
            return await self.call("startup", ping)
        except _Unavailable:
            return False

    async def call(self, limit: str, op: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        """Run `op` against Redis, or raise _Unavailable when Redis is failing."""
        if self._down and time.monotonic() < self._down_until:
            raise _Unavailable
        try:
            # A deadline on the whole call (a script may take several round trips), set
            # without wrapping it in a task of its own.
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS * 2):
                result = await op(self.limiter)
        except REDIS_FAILURES as exc:
            self._failed(limit, exc)
            raise _Unavailable from exc
        if self._down:
            self._down = False
            log.warning("Redis at %s answers again: limits are shared again", redacted(self.url))
        return result

    def _failed(self, limit: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._down:
            self._down = True
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            log.warning(
                "Redis at %s cannot be reached (%s: %s) while checking %s: limits are "
                "counted per process until it answers",
                redacted(self.url),
                type(cause).__name__,
                cause,
                limit,
            )

    async def close(self) -> None:
        """Close the connections to Redis."""
        await self._pool.aclose()


class _Unavailable(Exception):
    """Redis is failing; the count goes to this process's memory."""


#: Keys whose last event is remembered before those past their window are forgotten.
_MOST_NOTED_KEYS = 10_000


class MovingWindows:
    """Per-key moving windows of one limit, shared through Redis when there is one."""

    def __init__(self, limit: str, shared: SharedCounts | None = None) -> None:
        self._limit = limit
        self._shared = shared
        self._local = MovingWindowRateLimiter(MemoryStorage())
        #: When each key was last counted in this process, for keys counted only here.
        self._last_local_hit: dict[str, float] = {}

    async def _run(self, op: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        if self._shared is not None:
            try:
                return await self._shared.call(self._limit, op)
            except _Unavailable:
                LOCAL_COUNTS.labels(self._limit).inc()
        return await op(self._local)

    async def hit(self, rule: RateLimitItem, key: str) -> bool:
        """Count one event of `key`; False when that is over the rule (then it is not counted)."""
        self._note_hit(key, rule)
        return await self._run(lambda limiter: limiter.hit(rule, self._limit, key))

    async def test(self, rule: RateLimitItem, key: str) -> bool:
        """Tell whether one more event of `key` would be within the rule, counting nothing."""
        if self._shared is None:
            # Most keys (every caller that never failed) have no event in their window:
            # that needs no look at the counts.
            last = self._last_local_hit.get(key)
            if last is None or time.monotonic() - last > rule.get_expiry():
                return True
        return await self._run(lambda limiter: limiter.test(rule, self._limit, key))

    def _note_hit(self, key: str, rule: RateLimitItem) -> None:
        if self._shared is not None:
            return
        now = time.monotonic()
        if len(self._last_local_hit) >= _MOST_NOTED_KEYS:
            expiry = rule.get_expiry()
            self._last_local_hit = {
                k: at for k, at in self._last_local_hit.items() if now - at <= expiry
            }
        self._last_local_hit[key] = now

    async def retry_after(self, rule: RateLimitItem, key: str) -> int:
        """Whole seconds until `key` may have one more event (at least 1)."""
        stats = await self._run(lambda limiter: limiter.get_window_stats(rule, self._limit, key))
        return max(1, math.ceil(stats.reset_time - time.time()))


async def connect_shared_counts(settings: Settings) -> SharedCounts | None:
    """The Redis counts of CLARION_REDIS_URL (None without it); a Redis down is only logged."""
    if not settings.redis_url:
        return None
    shared = SharedCounts(settings.redis_url, settings.redis_prefix)
    if await shared.check():
        log.info("rate limits are shared through Redis at %s", redacted(settings.redis_url))
    return shared
