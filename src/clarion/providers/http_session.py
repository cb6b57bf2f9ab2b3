"""aiohttp client sessions configured the same way for every HTTP/1.1 provider transport."""

from __future__ import annotations

import ssl

import aiohttp


def new_session(
    ssl_context: ssl.SSLContext | None,
    *,
    request_timeout: float,
    connect_timeout: float,
    max_connections: int,
) -> aiohttp.ClientSession:
    """A session with pooled keep-alive connections and whole-request timeouts."""
    connector = aiohttp.TCPConnector(
        ssl=ssl_context if ssl_context is not None else True,
        limit=max_connections,
    )
    timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)
