"""Run an aiohttp application on a host and port (0 = ephemeral), optionally over TLS."""

from __future__ import annotations

import socket
import ssl
import struct

from aiohttp import web


class HttpSite:
    """One listening aiohttp application; `port` is known after `start`."""

    def __init__(self, app: web.Application, host: str, port: int, tls: ssl.SSLContext | None):
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._host = host
        self._requested_port = port
        self._tls = tls
        self.port = 0

    async def start(self) -> None:
        """Bind and begin serving."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port, ssl_context=self._tls)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and close open connections."""
        await self._runner.cleanup()


def reset_connection(request: web.Request) -> None:
    """Abort the request's TCP connection with a RST, as a crashed or overloaded peer would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Zero linger turns close into a RST, so clients see ECONNRESET, not a clean EOF.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
