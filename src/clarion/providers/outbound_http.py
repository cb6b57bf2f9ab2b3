"""The outbound policy applied to aiohttp: checked resolution and checked sockets.

aiohttp connects only to what its resolver returns, or to the literal address
of a URL. The resolver here drops refused addresses, and the socket factory
checks the address of every socket before it connects, so the address judged
is the address connected to, whatever a name resolves to from one lookup to
the next.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from clarion.providers.outbound import OutboundPolicy, OutboundRefused, parse_address


class _CheckedResolver(AbstractResolver):
    """Resolves like aiohttp does, then keeps only the addresses the policy allows."""

    def __init__(self, policy: OutboundPolicy, opened: set[str]) -> None:
        self._policy = policy
        self._opened = opened
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Addresses of `host` the policy allows; OutboundRefused when there are none."""
        results = await self._inner.resolve(host, port, family)
        if self._policy.allows_name(host):
            # An allowlisted name may resolve anywhere: the socket check must let it through.
            self._opened.update(str(result["host"]) for result in results)
            return results
        allowed: list[ResolveResult] = []
        refusal: OutboundRefused | None = None
        for result in results:
            try:
                self._policy.check_address(str(result["host"]), host)
            except OutboundRefused as exc:
                refusal = refusal or exc
            else:
                allowed.append(result)
        if not allowed:
            raise refusal or OutboundRefused(f"{host} has no address")
        return allowed

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


def checked_connector(policy: OutboundPolicy, ssl: Any, limit: int) -> aiohttp.TCPConnector:
    """A connector that never opens a socket to an address the policy refuses."""
    opened: set[str] = set()

    def socket_factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = str(sockaddr[0])
        if address not in opened:
            policy.check_address(address)
        return socket.socket(family=family, type=type_, proto=proto)

    return aiohttp.TCPConnector(
        ssl=ssl,
        limit=limit,
        resolver=_CheckedResolver(policy, opened),
        socket_factory=socket_factory,
    )


def refusal_in(error: BaseException) -> OutboundRefused | None:
    """The policy refusal behind an aiohttp connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OutboundRefused):
            return current
        seen.add(id(current))
        inner = getattr(current, "os_error", None)
        if isinstance(inner, BaseException) and id(inner) not in seen:
            current = inner
        else:
            current = current.__cause__ or current.__context__
    return None


__all__ = ["OutboundRefused", "checked_connector", "parse_address", "refusal_in"]
