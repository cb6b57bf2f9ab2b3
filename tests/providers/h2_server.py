"""A small, controllable HTTP/2 server on 127.0.0.1 for exercising the client transport."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.settings
from hyperframe.frame import GoAwayFrame

from clarion.eventloop import stream_transport


@dataclass
class Request:
    """What the server received on one stream."""

    headers: dict[str, str]
    body: bytes
    connection_index: int
    stream_id: int


@dataclass
class Reply:
    """What the handler wants sent back; `abort` drops the TCP connection instead."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    abort: bool = False
    never: bool = False


Handler = Callable[[Request], Awaitable[Reply]]


async def ok(_: Request) -> Reply:
    """Answer 200 with no body."""
    return Reply()


class _ServerConnection(asyncio.Protocol):
    def __init__(self, server: H2TestServer, index: int) -> None:
        self.server = server
        self.index = index
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.requests_seen = 0
        self.goaway_sent = False
        self.active = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = stream_transport(transport)
        self.transport = stream
        self.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.server.initial_window,
            },
        )
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        if self.index in self.server.frozen_connections:
            return  # a peer that went silent: no answers, not even PING ACKs
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = {str(name): str(value) for name, value in event.headers or []}
                self.pending[event.stream_id] = (headers, bytearray())
            elif isinstance(event, h2.events.DataReceived):
                assert event.stream_id is not None
                self.pending[event.stream_id][1].extend(event.data or b"")
                # Open the window only by what arrived, so small windows stay small.
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                assert event.stream_id is not None
                self.on_request(event.stream_id)
        self.flush()

    def on_request(self, stream_id: int) -> None:
        headers, body = self.pending.pop(stream_id)
        if self.goaway_sent:
            return
        self.requests_seen += 1
        limit = self.server.goaway_after
        if limit is not None and self.requests_seen >= limit:
            self.goaway_sent = True
            # Written by hand: h2's own close_connection forbids answering the
            # streams at or below last_stream_id, which a graceful GOAWAY must do.
            self.flush()
            assert self.transport is not None
            self.transport.write(GoAwayFrame(0, last_stream_id=stream_id).serialize())
            self.server.goaways_sent += 1
        request = Request(headers, bytes(body), self.index, stream_id)
        self.server.requests.append(request)
        self.active += 1
        self.server.note_active(self.active)
        asyncio.get_running_loop().create_task(self.respond(request))

    async def respond(self, request: Request) -> None:
        try:
            reply = await self.server.handler(request)
        finally:
            self.active -= 1
        if self.transport is None or self.transport.is_closing():
            return
        if reply.never:
            return
        if reply.abort:
            self.transport.abort()
            return
        headers = [(":status", str(reply.status)), *reply.headers.items()]
        self.h2.send_headers(request.stream_id, headers, end_stream=not reply.body)
        if reply.body:
            self.h2.send_data(request.stream_id, reply.body, end_stream=True)
        self.flush()
        if self.goaway_sent and self.active == 0:
            self.transport.close()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class H2TestServer:
    """HTTP/2 over TLS on an ephemeral port, recording requests and peak concurrency."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        handler: Handler = ok,
        *,
        max_concurrent_streams: int = 100,
        initial_window: int = 65535,
        goaway_after: int | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.handler = handler
        self.max_concurrent_streams = max_concurrent_streams
        self.initial_window = initial_window
        self.goaway_after = goaway_after
        self.requests: list[Request] = []
        self.connections: list[_ServerConnection] = []
        self.goaways_sent = 0
        self.frozen_connections: set[int] = set()
        self.peak_active_per_connection = 0
        self.peak_active_total = 0
        self._server: asyncio.Server | None = None

    def note_active(self, active_here: int) -> None:
        self.peak_active_per_connection = max(self.peak_active_per_connection, active_here)
        total = sum(c.active for c in self.connections)
        self.peak_active_total = max(self.peak_active_total, total)

    def _new_connection(self) -> _ServerConnection:
        connection = _ServerConnection(self, len(self.connections))
        self.connections.append(connection)
        return connection

    async def start(self) -> str:
        """Listen on 127.0.0.1:0 and return the https base URL."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, "127.0.0.1", 0, ssl=self.ssl_context
        )
        port = self._server.sockets[0].getsockname()[1]
        return f"https://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            self._server.close()
            for connection in self.connections:
                if connection.transport is not None:
                    connection.transport.abort()
            await self._server.wait_closed()
