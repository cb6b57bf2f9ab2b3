"""A bare HTTP/2 client for exercising the APNs emulator (tests and benchmarks)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes

from clarion.eventloop import stream_transport


class StreamRefused(ConnectionError):
    """The server reset the stream or went away before answering it."""


@dataclass
class ProbeResponse:
    """Status, headers and body of one answered stream."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


class _ProbeProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, tuple[ProbeResponse, asyncio.Future[ProbeResponse]]] = {}
        self.settings_received = asyncio.get_running_loop().create_future()
        self.goaway_last_stream: int | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = stream_transport(transport)
        self.transport = stream
        self.conn.initiate_connection()
        stream.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError as error:
            self._fail_all(StreamRefused(str(error)))
            return
        for event in events:
            if isinstance(event, RemoteSettingsChanged) and not self.settings_received.done():
                self.settings_received.set_result(None)
            elif isinstance(event, ResponseReceived):
                entry = self.pending.get(event.stream_id or 0)
                if entry is not None:
                    entry[0].headers = {str(k): str(v) for k, v in event.headers or []}
                    entry[0].status = int(entry[0].headers.get(":status", "0"))
            elif isinstance(event, DataReceived):
                entry = self.pending.get(event.stream_id or 0)
                if entry is not None:
                    entry[0].body += event.data or b""
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id or 0
                )
            elif isinstance(event, StreamEnded):
                entry = self.pending.pop(event.stream_id or 0, None)
                if entry is not None and not entry[1].done():
                    entry[1].set_result(entry[0])
            elif isinstance(event, StreamReset):
                entry = self.pending.pop(event.stream_id or 0, None)
                if entry is not None and not entry[1].done():
                    entry[1].set_exception(StreamRefused(f"stream reset: {event.error_code}"))
            elif isinstance(event, ConnectionTerminated):
                self.goaway_last_stream = event.last_stream_id
                for stream_id in [s for s in self.pending if s > (event.last_stream_id or 0)]:
                    _, future = self.pending.pop(stream_id)
                    if not future.done():
                        future.set_exception(StreamRefused("GOAWAY"))
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail_all(StreamRefused(f"connection lost: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.settings_received.done():
            self.settings_received.set_exception(StreamRefused("connection lost"))

    def _fail_all(self, error: Exception) -> None:
        for _, future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()


class H2Probe:
    """One HTTP/2 connection; `request` sends a whole request and awaits its answer."""

    def __init__(self, protocol: _ProbeProtocol) -> None:
        self._protocol = protocol

    @classmethod
    async def connect(cls, host: str, port: int, context: ssl.SSLContext) -> H2Probe:
        """Open a TLS connection (ALPN h2) and wait for the server's SETTINGS."""
        context.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            _ProbeProtocol, host, port, ssl=context, server_hostname="localhost"
        )
        await protocol.settings_received
        return cls(protocol)

    @property
    def max_concurrent_streams(self) -> int:
        """The server's advertised SETTINGS_MAX_CONCURRENT_STREAMS."""
        return int(self._protocol.conn.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS])

    @property
    def goaway_last_stream(self) -> int | None:
        """Last stream id from the server's GOAWAY, if one arrived."""
        return self._protocol.goaway_last_stream

    @property
    def is_open(self) -> bool:
        """Whether the connection is still up."""
        return self._protocol.transport is not None

    def start_request(
        self, headers: list[tuple[str, str]], body: bytes = b""
    ) -> asyncio.Future[ProbeResponse]:
        """Send a request now; the future resolves with the answer."""
        protocol = self._protocol
        if protocol.transport is None:
            raise StreamRefused("connection is closed")
        conn = protocol.conn
        future: asyncio.Future[ProbeResponse] = asyncio.get_running_loop().create_future()
        try:
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(stream_id, headers, end_stream=not body)
            step = conn.max_outbound_frame_size
            for start in range(0, len(body), step):
                chunk = body[start : start + step]
                conn.send_data(stream_id, chunk, end_stream=start + step >= len(body))
        except ProtocolError as error:
            raise StreamRefused(f"cannot open a stream: {error}") from error
        protocol.pending[stream_id] = (ProbeResponse(), future)
        protocol.transport.write(conn.data_to_send())
        return future

    async def request(self, headers: list[tuple[str, str]], body: bytes = b"") -> ProbeResponse:
        """Send one request and wait for its answer."""
        return await self.start_request(headers, body)

    async def close(self) -> None:
        """Close the connection and wait until it is down."""
        protocol = self._protocol
        if protocol.transport is not None:
            protocol.conn.close_connection()
            protocol.transport.write(protocol.conn.data_to_send())
            protocol.transport.close()
        await protocol.closed
