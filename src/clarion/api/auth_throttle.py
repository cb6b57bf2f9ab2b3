"""Throttling of failed authentication per client address and per key id."""

from __future__ import annotations

from limits import RateLimitItem, parse

from clarion.api.ratelimit import RateLimited
from clarion.api.shared_limits import MovingWindows, SharedCounts


class AuthThrottled(RateLimited):
    """Too many failed authentications came from this address or named this key id."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, "too many failed authentications")


class FailedAuthThrottle:
    """Counts failures against one rule such as "20/minute"; empty disables it.

    Only failures are counted, so a caller that presents valid keys is never slowed. Once an
    address or a key id is over the rule every attempt from it or naming it is refused before
    the key is even looked at, so guessing goes no faster than the rule allows. With Redis,
    failures count across every API process.
    """

    def __init__(self, rule: str, shared: SharedCounts | None = None) -> None:
        self._rule: RateLimitItem | None = parse(rule) if rule else None
        self._windows = MovingWindows("auth_failures", shared)

    @staticmethod
    def _buckets(address: str | None, key_id: str | None) -> list[str]:
        buckets = []
        if address:
            buckets.append(f"address:{address}")
        if key_id:
            buckets.append(f"key:{key_id}")
        return buckets

    async def check(self, address: str | None, key_id: str | None) -> None:
        """Raise AuthThrottled when the address or the key id has failed too often lately."""
        if self._rule is None:
            return
        for bucket in self._buckets(address, key_id):
            if not await self._windows.test(self._rule, bucket):
                raise AuthThrottled(await self._windows.retry_after(self._rule, bucket))

    async def failed(self, address: str | None, key_id: str | None) -> None:
        """Count one failed authentication against the address and the key id."""
        if self._rule is None:
            return
        for bucket in self._buckets(address, key_id):
            await self._windows.hit(self._rule, bucket)
