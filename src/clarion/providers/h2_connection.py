"""One HTTP/2 client connection over asyncio, multiplexing requests onto streams."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from clarion.eventloop import stream_transport
from clarion.providers.h2_errors import (
    ConnectionLostError,
    InvalidRequestError,
    ProtocolNegotiationError,
    StreamRefusedError,
    StreamResetError,
)
from clarion.providers.h2_goaway import Goaway, GoawaySplitter
from clarion.providers.h2_headers import CleanHeaders, clean_headers


class _H2Connection(h2.connection.H2Connection):
    """h2's connection, remembering fewer closed streams."""

    # h2 remembers how its last 65,536 closed streams ended (some 10 MB per connection
    # once a broadcast has pushed that many requests through it), only to answer a late
    # frame on a reset stream with RST_STREAM instead of a connection error. Late frames
    # come within a round trip: 8,192 streams is most of a second at full speed.
    MAX_CLOSED_STREAMS = 8192


# Until the server's first SETTINGS frame we cannot know its stream limit.
SETTINGS_WAIT_SECONDS = 10.0
# Our own ceiling on streams in flight per connection, whatever the server allows:
# h2 walks every open stream each time it opens one, so a connection with 1,000 in
# flight spends more on that walk than on the request; the pool opens more
# connections instead.
LOCAL_STREAM_CEILING = 200
# How long a PING may go unanswered, after a request was abandoned, before the
# connection is presumed dead (silent peers and dropped NAT entries send no RST).
PING_TIMEOUT_SECONDS = 5.0
# A roomy receive window so response bodies never stall on WINDOW_UPDATE round trips.
RECEIVE_WINDOW = 1 << 20


@dataclass(frozen=True, slots=True)
class Http2Response:
    """A complete HTTP/2 response."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Stream:
    """Book-keeping for one in-flight request."""

    done: asyncio.Future[Http2Response]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


class Http2Connection(asyncio.Protocol):
    """A client-side HTTP/2 connection; create it with `Http2Connection.open`."""

    def __init__(
        self,
        authority: str,
        on_capacity_change: Callable[[], None],
        ping_timeout: float = PING_TIMEOUT_SECONDS,
    ) -> None:
        self._authority = authority
        self._ping_timeout = ping_timeout
        self._on_capacity_change = on_capacity_change
        self._h2 = _H2Connection(
            config=h2.config.H2Configuration(
                client_side=True,
                header_encoding=None,
                # h2's normalisation marks `authorization` never-indexed, so a
                # 200-byte provider JWT that stays the same for 40 minutes would
                # be Huffman-coded into every request; we build clean,
                # lower-case headers ourselves and let HPACK index it once.
                normalize_outbound_headers=False,
                # `clean_headers` has checked the caller's headers and the rest are
                # ours; h2's own pass over every header of every request would only
                # repeat that work.
                validate_outbound_headers=False,
            )
        )
        self._transport: asyncio.Transport | None = None
        self._flush_pending = False
        self._streams: dict[int, _Stream] = {}
        self._settings_received = asyncio.Event()
        self._window_opened = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = asyncio.Event()
        self._going_away = False
        self._in_use = 0
        self._open_error: Exception | None = None
        self._frames = GoawaySplitter()
        self._probe: asyncio.TimerHandle | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        *,
        on_capacity_change: Callable[[], None] = lambda: None,
        connect_timeout: float = 10.0,
        ping_timeout: float = PING_TIMEOUT_SECONDS,
        address: str | None = None,
    ) -> Http2Connection:
        """Connect, negotiate h2 (ALPN under TLS) and wait for the server's SETTINGS.

        `address`, when given, is the (already checked) IP to connect to; `host`
        still names the server for TLS and the :authority header.
        """
        loop = asyncio.get_running_loop()
        authority = host if port == 443 else f"{host}:{port}"
        connection = cls(authority, on_capacity_change, ping_timeout)
        async with asyncio.timeout(connect_timeout):
            await loop.create_connection(
                lambda: connection,
                address or host,
                port,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
            )
            try:
                await asyncio.wait_for(connection._settings_received.wait(), SETTINGS_WAIT_SECONDS)
            except BaseException:
                connection.close()
                raise
        if connection.is_closed:
            raise connection._open_error or ConnectionLostError("closed during handshake")
        return connection

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the HTTP/2 preface once TCP (and TLS) is up."""
        stream = stream_transport(transport)
        self._transport = stream
        ssl_object = stream.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            self._open_error = ProtocolNegotiationError("server did not negotiate h2 via ALPN")
            stream.abort()
            return
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(RECEIVE_WINDOW)
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the h2 state machine and dispatch its events."""
        for part in self._frames.feed(data):
            if isinstance(part, Goaway):
                self._on_goaway(part.last_stream_id)
                continue
            try:
                events = self._h2.receive_data(part)
            except h2.exceptions.ProtocolError as error:
                self._flush()
                self._fail_all(ConnectionLostError(f"HTTP/2 protocol error: {error}"))
                self.close()
                return
            for event in events:
                self._dispatch(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail every outstanding stream; the pool will open a fresh connection."""
        self._fail_all(ConnectionLostError(str(exc) if exc else "connection closed"))
        self._cancel_probe()
        self._closed.set()
        self._settings_received.set()
        self._writable.set()
        self._window_opened.set()
        self._on_capacity_change()

    def pause_writing(self) -> None:
        """Stop feeding the socket until the kernel buffer drains."""
        self._writable.clear()

    def resume_writing(self) -> None:
        """The socket can take more bytes again."""
        self._writable.set()

    # -- capacity ---------------------------------------------------------
    @property
    def usable(self) -> bool:
        """True while new requests may be started here."""
        return not self._closed.is_set() and not self._going_away

    @property
    def is_closed(self) -> bool:
        """True once the underlying transport is gone."""
        return self._closed.is_set()

    @property
    def stream_limit(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS, bounded by our own ceiling."""
        advertised = self._h2.remote_settings.max_concurrent_streams
        return min(advertised, LOCAL_STREAM_CEILING)

    @property
    def free_slots(self) -> int:
        """How many more requests may be started now without exceeding the stream limit."""
        if not self.usable:
            return 0
        return max(0, self.stream_limit - self._in_use)

    @property
    def in_use(self) -> int:
        """Requests currently assigned to this connection."""
        return self._in_use

    def reserve(self) -> None:
        """Claim a stream slot; the caller must `release` it when done."""
        self._in_use += 1

    def release(self) -> None:
        """Return a stream slot and let waiters know."""
        self._in_use -= 1
        if self._going_away and not self._streams:
            self.close()
        self._on_capacity_change()

    # -- requests ---------------------------------------------------------
    async def request(
        self, method: str, path: str, headers: list[tuple[str, str]] | CleanHeaders, body: bytes
    ) -> Http2Response:
        """Send one request on a new stream and wait for the complete response."""
        caller_headers = clean_headers(headers)
        if not self.usable:
            raise StreamRefusedError("connection is not accepting new streams")
        await self._writable.wait()
        if not self.usable:
            raise StreamRefusedError("connection is not accepting new streams")
        stream_id = self._h2.get_next_available_stream_id()
        stream = _Stream(done=asyncio.get_running_loop().create_future())
        self._streams[stream_id] = stream
        request_headers = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", self._authority.encode()),
            (b":path", path.encode()),
            *caller_headers,
            (b"content-length", str(len(body)).encode()),
        ]
        try:
            try:
                self._h2.send_headers(stream_id, request_headers, end_stream=not body)
            except (h2.exceptions.TooManyStreamsError, h2.exceptions.StreamClosedError) as error:
                # Nothing reached the wire, so another connection may take the request.
                raise StreamRefusedError(f"stream could not be opened: {error}") from error
            except h2.exceptions.ProtocolError as error:
                if not self.usable:
                    raise StreamRefusedError(f"stream could not be opened: {error}") from error
                # HPACK state may now differ from the server's: this connection is spoilt.
                self._fail_all(ConnectionLostError("HPACK state lost after a refused header"))
                self.close()
                raise InvalidRequestError(f"request refused by HTTP/2 rules: {error}") from error
            self._flush_soon()
            if body:
                await self._send_body(stream_id, body)
            return await stream.done
        except asyncio.CancelledError:
            self._reset_quietly(stream_id)
            self._probe_liveness()
            raise
        finally:
            self._streams.pop(stream_id, None)

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        """Write the body in frames the flow-control windows allow, waiting when they are shut."""
        view = memoryview(body)
        while view:
            if self._closed.is_set():
                raise ConnectionLostError("connection closed while sending")
            stream = self._streams.get(stream_id)
            if stream is None or stream.done.done():
                # Answered early (e.g. 413): stop sending and release the server's stream.
                self._reset_quietly(stream_id)
                return
            window = self._h2.local_flow_control_window(stream_id)
            chunk_size = min(window, self._h2.max_outbound_frame_size, len(view))
            if chunk_size <= 0:
                self._window_opened.clear()
                await self._window_opened.wait()
                continue
            chunk, view = view[:chunk_size], view[chunk_size:]
            self._h2.send_data(stream_id, bytes(chunk), end_stream=not view)
            self._flush_soon()
            await self._writable.wait()

    def _dispatch(self, event: h2.events.Event) -> None:
        """Route one h2 event to the stream or connection state it concerns."""
        if isinstance(event, h2.events.ResponseReceived):
            self._on_response_headers(event)
        elif isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._on_reset(event)
        elif isinstance(event, h2.events.WindowUpdated):
            self._window_opened.set()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._settings_received.set()
            self._window_opened.set()
            self._on_capacity_change()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._on_goaway(event.last_stream_id or 0)
        elif isinstance(event, h2.events.PingAckReceived):
            self._cancel_probe()

    def _on_response_headers(self, event: h2.events.ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id) if event.stream_id else None
        if stream is None or event.headers is None:
            return
        for raw_name, raw_value in event.headers:
            name = bytes(raw_name).decode("latin-1")
            value = bytes(raw_value).decode("latin-1")
            if name == ":status":
                stream.status = int(value)
            else:
                stream.headers[name] = value

    def _on_data(self, event: h2.events.DataReceived) -> None:
        if event.stream_id is None:
            return
        if event.flow_controlled_length:
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        stream = self._streams.get(event.stream_id)
        if stream is not None and event.data:
            stream.body.extend(event.data)

    def _finish(self, stream_id: int | None) -> None:
        stream = self._streams.get(stream_id) if stream_id else None
        if stream is not None and not stream.done.done():
            stream.done.set_result(Http2Response(stream.status, stream.headers, bytes(stream.body)))

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.get(event.stream_id) if event.stream_id else None
        if stream is None or stream.done.done():
            return
        code = int(event.error_code) if event.error_code is not None else 0
        error: Exception
        if code == h2.errors.ErrorCodes.REFUSED_STREAM:
            error = StreamRefusedError("stream refused by server")
        else:
            error = StreamResetError(code)
        stream.done.set_exception(error)

    def _on_goaway(self, last: int) -> None:
        """Stop new work here; streams the server never saw may be resent elsewhere."""
        self._going_away = True
        for stream_id, stream in list(self._streams.items()):
            if stream_id > last and not stream.done.done():
                stream.done.set_exception(StreamRefusedError(f"GOAWAY above stream {last}"))
        if not any(sid <= last for sid in self._streams):
            self.close()
        self._on_capacity_change()

    def _probe_liveness(self) -> None:
        """Ask the peer for a PING ACK and drop the connection if none comes in time."""
        if self._probe is not None or self._closed.is_set():
            return
        with contextlib.suppress(h2.exceptions.H2Error):
            self._h2.ping(b"clarion!")
            self._flush()
        self._probe = asyncio.get_running_loop().call_later(
            self._ping_timeout, self._abort_unresponsive
        )

    def _cancel_probe(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    def _abort_unresponsive(self) -> None:
        self._probe = None
        if self._transport is not None:
            self._fail_all(ConnectionLostError("peer did not answer PING"))
            self._transport.abort()

    def _fail_all(self, error: Exception) -> None:
        for stream in self._streams.values():
            if not stream.done.done():
                stream.done.set_exception(error)
                # Mark as retrieved: callers that were cancelled will never await it.
                stream.done.exception()

    def _reset_quietly(self, stream_id: int) -> None:
        with contextlib.suppress(h2.exceptions.H2Error):
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            self._flush()

    def _flush_soon(self) -> None:
        # Requests started in the same loop iteration share one socket write (one syscall
        # for many streams instead of one each); h2 keeps the frames in order meanwhile.
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Say GOAWAY politely (when possible) and close the socket."""
        if self._transport is None or self._transport.is_closing():
            return
        with contextlib.suppress(h2.exceptions.H2Error):
            self._h2.close_connection()
            self._flush()
        self._transport.close()

    async def wait_closed(self) -> None:
        """Wait until the transport reports it is gone."""
        await self._closed.wait()
