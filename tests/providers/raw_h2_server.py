"""A scripted HTTP/2 server over plain TCP that sends exactly the frames a test writes.

It uses hyperframe and hpack (not the client's own framing), so the client is checked
against an independent reading of the protocol, including frames a well-behaved
server would never send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import hpack
from hyperframe.frame import Frame, HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Peer:
    """One client connection as the script sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = hpack.Decoder()
        self.encoder = hpack.Encoder()
        self.received: list[Frame] = []

    async def read_frame(self) -> Frame:
        """The next frame from the client (header blocks decoded into `headers`)."""
        header = await self.reader.readexactly(9)
        frame, length = Frame.parse_frame_header(memoryview(header))
        frame.parse_body(memoryview(await self.reader.readexactly(length)))
        self.received.append(frame)
        return frame

    async def read_until(self, kind: type[Frame]) -> Frame:
        """Frames up to and including the next one of `kind`."""
        while True:
            frame = await self.read_frame()
            if isinstance(frame, kind):
                return frame

    def decode(self, frame: HeadersFrame) -> dict[str, str]:
        """A request's header block as a dict (the block must fit one frame)."""
        return {
            bytes(n).decode(): bytes(v).decode()
            for n, v in self.decoder.decode(frame.data, raw=True)
        }

    def block(self, headers: list[tuple[str, str]]) -> bytes:
        """An encoded response header block."""
        return bytes(self.encoder.encode(headers))

    def send(self, *frames: Frame | bytes) -> None:
        """Write frames (or raw bytes) to the client."""
        for frame in frames:
            self.writer.write(frame if isinstance(frame, bytes) else frame.serialize())

    async def handshake(self, settings: dict[int, int] | None = None) -> None:
        """Read the preface and the client's SETTINGS; send ours."""
        assert await self.reader.readexactly(len(PREFACE)) == PREFACE
        await self.read_until(SettingsFrame)
        self.send(SettingsFrame(0, settings=settings or {}))


Script = Callable[[Peer], Awaitable[None]]


class RawH2Server:
    """Runs `script` for each client connection; `port` once started."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._server: asyncio.Server | None = None
        self.port = 0
        self.errors: list[BaseException] = []
        self.peers: list[Peer] = []

    async def __aenter__(self) -> RawH2Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:
            peer.writer.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self.peers.append(peer)
        try:
            await self._script(peer)
            # Keep the connection open until the client leaves.
            while await reader.read(65536):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except BaseException as error:
            self.errors.append(error)
            raise
