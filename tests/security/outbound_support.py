"""Listeners on the loopback interface that record whether the server ever reached them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from clarion.emulators.tls import TlsFiles


def http_reply(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Listener:
    """Counts TCP connections; with a reply, answers each HTTPS request with it."""

    def __init__(self, tls: TlsFiles, reply: bytes | None = None) -> None:
        self.tls = tls
        self.reply = reply
        self.connections = 0
        self.requests: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Record the connection, then answer one request over TLS when a reply is set."""
        self.connections += 1
        try:
            if self.reply is not None:
                await writer.start_tls(self.tls.server_context())
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                writer.write(self.reply)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@asynccontextmanager
async def listening(
    tls: TlsFiles, reply: bytes | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Listener]:
    """A Listener on an ephemeral port of `host` (127.0.0.1 or ::1)."""
    listener = Listener(tls, reply)
    server = await asyncio.start_server(listener.handle, host, 0)
    listener.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listener
