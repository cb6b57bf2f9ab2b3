"""aiohttp client sessions configured the same way for every HTTP/1.1 provider transport."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp

from clarion.providers.outbound import OutboundPolicy
from clarion.providers.outbound_http import checked_connector


def new_session(
    ssl_context: ssl.SSLContext | None,
    *,
    request_timeout: float,
    connect_timeout: float,
    max_connections: int,
    outbound: OutboundPolicy | None = None,
) -> aiohttp.ClientSession:
    """A session with pooled keep-alive connections and whole-request timeouts.

    With `outbound`, every connection is checked against that policy (tenant-chosen
    URLs); without it the session reaches any host (operator-configured URLs only).
    """
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    connector = (
        checked_connector(outbound, verify, max_connections)
        if outbound is not None
        else aiohttp.TCPConnector(ssl=verify, limit=max_connections)
    )
    timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


class LazySession:
    """One transport's `new_session`, made on first use and closed on demand."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        *,
        request_timeout: float,
        connect_timeout: float,
        max_connections: int,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._outbound = outbound
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        """The session, made now if there is none yet."""
        # Made on first use, not in __init__: aiohttp sessions belong to the running event loop.
        if self._session is None:
            self._session = new_session(
                self._ssl_context,
                request_timeout=self._request_timeout,
                connect_timeout=self._connect_timeout,
                max_connections=self._max_connections,
                outbound=self._outbound,
            )
        return self._session

    async def close(self) -> None:
        """Close pooled connections; a later `get` makes a fresh session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        # Let the SSL transports finish closing before the loop may end.
        await asyncio.sleep(0)
