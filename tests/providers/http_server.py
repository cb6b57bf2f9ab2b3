"""Start an aiohttp web application on 127.0.0.1 over real TLS for transport tests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application, ssl_context: ssl.SSLContext) -> AsyncIterator[str]:
    """Run `app` on an ephemeral port and yield its https base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
