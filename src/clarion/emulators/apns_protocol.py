"""The HTTP/2 server side of one APNs emulator connection, on `h2` and asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Protocol

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError, StreamClosedError
from h2.settings import SettingCodes, Settings

from clarion.emulators.faults import FaultRules
from clarion.eventloop import stream_transport

# Bodies are kept only up to this size: anything longer is refused as too large anyway.
_BODY_CAP = 8192
# A large connection window keeps clients from stalling on WINDOW_UPDATE round trips.
_CONNECTION_WINDOW = 16 * 1024 * 1024


class Response(Protocol):
    """What the request handler returns: status, headers and body bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class RequestHandler(Protocol):
    """Turns one complete request into a response."""

    def __call__(
        self, header_list: list[tuple[bytes, bytes]], body: bytes, body_complete: bool
    ) -> Response: ...


class _Stream:
    __slots__ = ("body", "body_complete", "header_list")

    def __init__(self, header_list: list[tuple[bytes, bytes]]) -> None:
        self.header_list = header_list
        self.body = bytearray()
        self.body_complete = True


class ApnsConnection(asyncio.Protocol):
    """Serves APNs requests on one TLS connection; fault rules may reset or GOAWAY it."""

    def __init__(
        self,
        handle: RequestHandler,
        faults: FaultRules,
        max_concurrent_streams: int,
        live: set[ApnsConnection],
    ) -> None:
        # Header validation and normalisation are skipped: the request rules check what
        # matters, and they cost more CPU than the rest of a request.
        config = H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_inbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._conn = H2Connection(config=config)
        self._conn.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
                SettingCodes.INITIAL_WINDOW_SIZE: 1024 * 1024,
            },
        )
        self._handle = handle
        self._faults = faults
        self._live = live
        self._streams: dict[int, _Stream] = {}
        self._transport: asyncio.Transport | None = None
        self._answered = 0
        self._delayed = 0
        self._goaway_sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send our SETTINGS (with MAX_CONCURRENT_STREAMS) as soon as TLS is up."""
        stream = stream_transport(transport)
        self._transport = stream
        ssl_object = stream.get_extra_info("ssl_object")
        # Like Apple, a client that skips ALPN still gets HTTP/2; one that picks
        # another protocol is refused.
        if ssl_object is not None and ssl_object.selected_alpn_protocol() not in (None, "h2"):
            stream.close()
            return
        self._live.add(self)
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window(_CONNECTION_WINDOW)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self._live.discard(self)
        self._transport = None

    def close(self) -> None:
        """Say GOAWAY and close the connection."""
        if self._transport is None:
            return
        self._conn.close_connection()
        self._flush()
        self._transport.close()

    def data_received(self, data: bytes) -> None:
        """Feed bytes to h2 and act on the events."""
        try:
            events = self._conn.receive_data(data)
        except ProtocolError:
            # h2 has already queued a GOAWAY with the matching error code.
            self._flush()
            if self._transport is not None:
                self._transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self._on_headers(event.stream_id, list(event.headers or []))
            elif isinstance(event, DataReceived):
                self._on_data(event.stream_id, event.data or b"", event.flow_controlled_length or 0)
            elif isinstance(event, StreamEnded):
                self._on_end(event.stream_id)
            elif isinstance(event, StreamReset):
                self._streams.pop(event.stream_id or 0, None)
            elif isinstance(event, ConnectionTerminated):
                self._goaway_sent = True
                self._close_when_idle()
            if self._transport is None:
                return
        self._flush()

    def _on_headers(self, stream_id: int, header_list: list[tuple[bytes, bytes]]) -> None:
        if self._goaway_sent:
            self._conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self._streams[stream_id] = _Stream(header_list)

    def _on_data(self, stream_id: int, data: bytes, flow_length: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            if len(stream.body) + len(data) <= _BODY_CAP:
                stream.body += data
            else:
                stream.body_complete = False
        if flow_length:
            with contextlib.suppress(StreamClosedError):
                self._conn.acknowledge_received_data(flow_length, stream_id)

    def _on_end(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        if self._goaway_sent:
            # Streams above GOAWAY's last id are refused so the client may retry them elsewhere.
            self._conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        if self._faults.pick_reset():
            self._reset_transport()
            return
        response = self._handle(stream.header_list, bytes(stream.body), stream.body_complete)
        self._answered += 1
        latency = self._faults.latency
        if latency > 0:
            self._delayed += 1
            asyncio.get_running_loop().call_later(latency, self._send_delayed, stream_id, response)
        else:
            self._send(stream_id, response)
        limit = self._faults.goaway_after_streams
        if limit is not None and self._answered >= limit and not self._goaway_sent:
            self._goaway_sent = True
            self._conn.close_connection(error_code=ErrorCodes.NO_ERROR, last_stream_id=stream_id)
            self._close_when_idle()

    def _send(self, stream_id: int, response: Response) -> None:
        headers = [(b":status", str(response.status).encode()), *response.headers]
        try:
            if response.body:
                self._conn.send_headers(stream_id, headers)
                self._conn.send_data(stream_id, response.body, end_stream=True)
            else:
                self._conn.send_headers(stream_id, headers, end_stream=True)
        except (StreamClosedError, ProtocolError):
            return

    def _send_delayed(self, stream_id: int, response: Response) -> None:
        self._delayed -= 1
        if self._transport is None:
            return
        self._send(stream_id, response)
        self._flush()
        self._close_when_idle()

    def _close_when_idle(self) -> None:
        # After GOAWAY, answers still owed are sent before the socket closes.
        if self._transport is not None and self._goaway_sent and self._delayed == 0:
            self._flush()
            self._transport.close()

    def _reset_transport(self) -> None:
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Zero linger turns close into a TCP RST, which clients see as ECONNRESET.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        self._transport = None

    def _flush(self) -> None:
        if self._transport is not None:
            data = self._conn.data_to_send()
            if data:
                self._transport.write(data)
