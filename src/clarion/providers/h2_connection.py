"""One HTTP/2 client connection over asyncio, multiplexing requests onto streams.

The framing is our own (frames in `h2_frames`, request HPACK in `h2_hpack`): a request
costs a few byte joins, and the shared headers of a batch go out as a handful of table
indexes. Response header blocks are decoded by `h2_hpack_decode`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from clarion.eventloop import stream_transport
from clarion.providers import h2_frames as f
from clarion.providers.h2_errors import (
    ConnectionLostError,
    ProtocolNegotiationError,
    StreamRefusedError,
    StreamResetError,
)
from clarion.providers.h2_headers import CleanHeaders, clean_headers
from clarion.providers.h2_hpack import RequestEncoder
from clarion.providers.h2_hpack_decode import HpackDecodingError, ResponseDecoder

# Until the server's first SETTINGS frame we cannot know its stream limit.
SETTINGS_WAIT_SECONDS = 10.0
# Our own ceiling on streams in flight per connection, whatever the server allows:
# requests beyond what keeps the server busy only wait in its queue, where the last
# of a thousand may outlive its attempt timeout and be sent again.
LOCAL_STREAM_CEILING = 200
# How long a PING may go unanswered, after a request was abandoned, before the
# connection is presumed dead (silent peers and dropped NAT entries send no RST).
PING_TIMEOUT_SECONDS = 5.0
# A roomy receive window so response bodies never stall on WINDOW_UPDATE round trips.
RECEIVE_WINDOW = 1 << 20
# Streams the server may have open before its SETTINGS say otherwise (RFC 9113 advises
# at least 100 as the lowest limit a server should set).
_DEFAULT_STREAM_LIMIT = 100
_PING_PAYLOAD = b"clarion!"


@dataclass(frozen=True, slots=True)
class Http2Response:
    """A complete HTTP/2 response."""

    status: int
    headers: dict[str, str]
    body: bytes


#: Called once with a stream's response, or the error that ended it.
OnDone = Callable[[Http2Response | Exception], None]


class _Stream:
    """Book-keeping for one in-flight request."""

    __slots__ = ("body", "code", "headers", "on_done", "received", "unsent", "window")

    def __init__(self, on_done: OnDone, window: int) -> None:
        self.on_done = on_done
        self.window = window
        self.code = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        # Request body bytes not yet sent (flow control), and response bytes not yet
        # given back to the server's window.
        self.unsent: memoryview | None = None
        self.received = 0


class Http2Connection(asyncio.Protocol):
    """A client-side HTTP/2 connection; create it with `Http2Connection.open`."""

    def __init__(
        self,
        authority: str,
        on_capacity_change: Callable[[], None],
        ping_timeout: float = PING_TIMEOUT_SECONDS,
    ) -> None:
        self._authority = authority.encode()
        self._ping_timeout = ping_timeout
        self._on_capacity_change = on_capacity_change
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_pending = False
        self._streams: dict[int, _Stream] = {}
        # Streams with request body left to send, oldest first.
        self._blocked: dict[int, _Stream] = {}
        self._next_stream_id = 1
        self._encoder = RequestEncoder()
        self._decoder = ResponseDecoder()
        self._reader = f.FrameReader()
        # Header block fragments of a HEADERS frame awaiting its CONTINUATION frames.
        self._continuing: tuple[int, int, list[bytes]] | None = None
        self._remote_stream_limit = _DEFAULT_STREAM_LIMIT
        self._remote_initial_window = f.DEFAULT_WINDOW
        self._remote_frame_size = f.DEFAULT_FRAME_SIZE
        self._send_window = f.DEFAULT_WINDOW
        self._receive_window = f.DEFAULT_WINDOW + RECEIVE_WINDOW
        self._received_unacked = 0
        self._settings_received = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = asyncio.Event()
        self._going_away = False
        self._in_use = 0
        self._open_error: Exception | None = None
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
        self._out.append(f.PREFACE)
        self._out.append(
            f.settings({f.SETTINGS_ENABLE_PUSH: 0, f.SETTINGS_INITIAL_WINDOW_SIZE: RECEIVE_WINDOW})
        )
        self._out.append(f.window_update(0, RECEIVE_WINDOW))
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Split the bytes into frames and act on each."""
        try:
            for kind, flags, stream_id, payload in self._reader.feed(data):
                if self._continuing is not None and kind != f.CONTINUATION:
                    raise f.FrameError(f.PROTOCOL_ERROR, "header block interrupted")
                if kind == f.HEADERS:
                    self._on_headers(flags, stream_id, payload)
                elif kind == f.DATA:
                    self._on_data(flags, stream_id, payload)
                elif kind == f.CONTINUATION:
                    self._on_continuation(flags, stream_id, payload)
                else:
                    self._on_control(kind, flags, stream_id, payload)
        except f.FrameError as error:
            self._fail_connection(error.code, str(error))
            return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail every outstanding stream; the pool will open a fresh connection."""
        self._fail_all(ConnectionLostError(str(exc) if exc else "connection closed"))
        self._cancel_probe()
        self._closed.set()
        self._settings_received.set()
        self._writable.set()
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
        return (
            not self._closed.is_set()
            and not self._going_away
            and self._next_stream_id <= f.MAX_STREAM_ID
        )

    @property
    def is_closed(self) -> bool:
        """True once the underlying transport is gone."""
        return self._closed.is_set()

    @property
    def writable(self) -> bool:
        """False while the transport has asked us to pause writing."""
        return self._writable.is_set()

    async def wait_writable(self) -> None:
        """Wait until the transport takes bytes again."""
        await self._writable.wait()

    @property
    def stream_limit(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS, bounded by our own ceiling."""
        return min(self._remote_stream_limit, LOCAL_STREAM_CEILING)

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
        done: asyncio.Future[Http2Response] = asyncio.get_running_loop().create_future()

        def settle(outcome: Http2Response | Exception) -> None:
            if done.done():
                return
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

        stream_id = self.start(method, path, caller_headers, body, settle)
        try:
            return await done
        except asyncio.CancelledError:
            self.abandon(stream_id)
            raise

    def start(
        self, method: str, path: str, headers: CleanHeaders, body: bytes, on_done: OnDone
    ) -> int:
        """Open a stream for one request and queue its frames; `on_done` gets its outcome.

        The frames go out with the others started in the same loop iteration, in one
        write. Raises StreamRefusedError when no stream can be opened here (nothing was
        sent: another connection may take the request).
        """
        if not self.usable:
            raise StreamRefusedError("connection is not accepting new streams")
        if len(self._streams) >= self._remote_stream_limit:
            raise StreamRefusedError("stream could not be opened: server's stream limit reached")
        stream_id = self._next_stream_id
        self._next_stream_id += 2
        stream = _Stream(on_done, self._remote_initial_window)
        self._streams[stream_id] = stream
        block = self._encoder.encode(
            method.encode(), self._authority, path.encode(), headers, len(body)
        )
        self._queue_headers(stream_id, block, end_stream=not body)
        if body:
            size = len(body)
            if size <= min(stream.window, self._send_window, self._remote_frame_size):
                stream.window -= size
                self._send_window -= size
                self._out.append(f.frame(f.DATA, f.END_STREAM, stream_id, body))
            else:
                stream.unsent = memoryview(body)
                self._blocked[stream_id] = stream
                self._pump()
        self._flush_soon()
        return stream_id

    def abandon(self, stream_id: int) -> bool:
        """Give up on a stream whose caller stopped waiting: reset it and check the peer lives.

        Returns whether the stream was still outstanding; its `on_done` is not called.
        """
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return False
        self._blocked.pop(stream_id, None)
        self._reset(stream_id, f.CANCEL)
        self._probe_liveness()
        return True

    def _queue_headers(self, stream_id: int, block: bytes, *, end_stream: bool) -> None:
        flags = f.END_STREAM if end_stream else 0
        limit = self._remote_frame_size
        if len(block) <= limit:
            self._out.append(f.frame(f.HEADERS, flags | f.END_HEADERS, stream_id, block))
            return
        self._out.append(f.frame(f.HEADERS, flags, stream_id, block[:limit]))
        for start in range(limit, len(block), limit):
            last = start + limit >= len(block)
            self._out.append(
                f.frame(
                    f.CONTINUATION,
                    f.END_HEADERS if last else 0,
                    stream_id,
                    block[start : start + limit],
                )
            )

    def _pump(self) -> None:
        """Send queued request bodies as far as the flow-control windows allow, oldest first."""
        finished: list[int] = []
        for stream_id, stream in self._blocked.items():
            if self._send_window <= 0:
                break
            view = stream.unsent
            while view and self._send_window > 0 and stream.window > 0:
                size = min(len(view), stream.window, self._send_window, self._remote_frame_size)
                chunk, view = view[:size], view[size:]
                stream.window -= size
                self._send_window -= size
                self._out.append(
                    f.frame(f.DATA, 0 if view else f.END_STREAM, stream_id, bytes(chunk))
                )
            stream.unsent = view
            if not view:
                finished.append(stream_id)
        for stream_id in finished:
            del self._blocked[stream_id]

    # -- inbound frames ---------------------------------------------------
    def _on_headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise f.FrameError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        fragment = f.strip_padding(flags, payload)
        if flags & f.PRIORITY_FLAG:
            if len(fragment) < 5:
                raise f.FrameError(f.FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            fragment = fragment[5:]
        if flags & f.END_HEADERS:
            self._on_header_block(stream_id, flags, fragment)
        else:
            self._continuing = (stream_id, flags, [fragment])

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        continuing = self._continuing
        if continuing is None or continuing[0] != stream_id:
            raise f.FrameError(f.PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
        continuing[2].append(payload)
        if sum(len(part) for part in continuing[2]) > 1 << 20:
            raise f.FrameError(f.PROTOCOL_ERROR, "header block too large")
        if flags & f.END_HEADERS:
            self._continuing = None
            self._on_header_block(stream_id, continuing[1], b"".join(continuing[2]))

    def _on_header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        # Every block is decoded, even for streams we dropped: the table must stay in step.
        try:
            fields = self._decoder.decode(block)
        except HpackDecodingError as error:
            raise f.FrameError(f.COMPRESSION_ERROR, f"bad header block: {error}") from error
        self._check_peer_stream(stream_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if not stream.code:
            status = 0
            headers: dict[str, str] = {}
            for raw_name, raw_value in fields:
                name = raw_name.decode("latin-1")
                value = raw_value.decode("latin-1")
                if name == ":status":
                    status = int(value) if value.isdigit() and len(value) == 3 else -1
                else:
                    headers[name] = value
            if status < 100:
                self._reset_stream(stream_id, StreamResetError(f.PROTOCOL_ERROR))
                return
            if status >= 200:
                stream.code = status
                stream.headers = headers
        if flags & f.END_STREAM:
            self._finish(stream_id)

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise f.FrameError(f.PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        self._receive_window -= size
        if self._receive_window < 0:
            raise f.FrameError(f.FLOW_CONTROL_ERROR, "peer overran the connection window")
        self._received_unacked += size
        if self._received_unacked >= RECEIVE_WINDOW // 2:
            self._out.append(f.window_update(0, self._received_unacked))
            self._receive_window += self._received_unacked
            self._received_unacked = 0
        self._check_peer_stream(stream_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if not stream.code:
            self._reset_stream(stream_id, StreamResetError(f.PROTOCOL_ERROR))
            return
        stream.body += f.strip_padding(flags, payload)
        stream.received += size
        if stream.received >= RECEIVE_WINDOW // 2 and not flags & f.END_STREAM:
            self._out.append(f.window_update(stream_id, stream.received))
            stream.received = 0
        if flags & f.END_STREAM:
            self._finish(stream_id)

    def _on_control(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if kind == f.SETTINGS:
            self._on_settings(flags, stream_id, payload)
        elif kind == f.WINDOW_UPDATE:
            self._on_window_update(stream_id, payload)
        elif kind == f.RST_STREAM:
            if len(payload) != 4:
                raise f.FrameError(f.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size")
            if not stream_id:
                raise f.FrameError(f.PROTOCOL_ERROR, "RST_STREAM on stream 0")
            self._check_peer_stream(stream_id)
            code = f.u32(payload)
            stream = self._streams.pop(stream_id, None)
            self._blocked.pop(stream_id, None)
            if stream is not None:
                refused = code == f.REFUSED_STREAM
                stream.on_done(
                    StreamRefusedError("stream refused by server")
                    if refused
                    else StreamResetError(code)
                )
        elif kind == f.PING:
            if len(payload) != 8 or stream_id:
                raise f.FrameError(f.FRAME_SIZE_ERROR, "PING of the wrong size or stream")
            if flags & f.ACK:
                self._cancel_probe()
            else:
                self._out.append(f.frame(f.PING, f.ACK, 0, payload))
        elif kind == f.GOAWAY:
            if len(payload) < 8 or stream_id:
                raise f.FrameError(f.FRAME_SIZE_ERROR, "GOAWAY of the wrong size or stream")
            self._on_goaway(f.u32(payload) & f.MAX_STREAM_ID)
        elif kind == f.PUSH_PROMISE:
            raise f.FrameError(f.PROTOCOL_ERROR, "PUSH_PROMISE while push is disabled")
        elif kind == f.PRIORITY and len(payload) != 5:
            raise f.FrameError(f.FRAME_SIZE_ERROR, "PRIORITY of the wrong size")
        # Other frame types are extensions we do not speak; RFC 9113 says ignore them.

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise f.FrameError(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise f.FrameError(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        for code, value in f.parse_settings(payload):
            if code == f.SETTINGS_MAX_CONCURRENT_STREAMS:
                self._remote_stream_limit = value
            elif code == f.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    raise f.FrameError(f.FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self._remote_initial_window
                self._remote_initial_window = value
                for stream in self._streams.values():
                    stream.window += delta
            elif code == f.SETTINGS_MAX_FRAME_SIZE:
                if not f.DEFAULT_FRAME_SIZE <= value <= f.MAX_FRAME_SIZE_LIMIT:
                    raise f.FrameError(f.PROTOCOL_ERROR, "invalid SETTINGS_MAX_FRAME_SIZE")
                self._remote_frame_size = value
            elif code == f.SETTINGS_HEADER_TABLE_SIZE:
                self._encoder.set_table_limit(value)
        self._out.append(f.frame(f.SETTINGS, f.ACK, 0))
        self._settings_received.set()
        self._pump()
        self._on_capacity_change()

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise f.FrameError(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size")
        increment = f.u32(payload) & f.MAX_WINDOW
        if not stream_id:
            if not increment:
                raise f.FrameError(f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection")
            self._send_window += increment
            if self._send_window > f.MAX_WINDOW:
                raise f.FrameError(f.FLOW_CONTROL_ERROR, "connection window overflow")
        else:
            self._check_peer_stream(stream_id)
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            stream.window += increment
            if not increment or stream.window > f.MAX_WINDOW:
                code = f.PROTOCOL_ERROR if not increment else f.FLOW_CONTROL_ERROR
                self._reset_stream(stream_id, StreamResetError(code), code)
                return
        if self._blocked:
            self._pump()

    def _check_peer_stream(self, stream_id: int) -> None:
        """Frames on streams we never opened are a connection error."""
        if not stream_id & 1 or stream_id >= self._next_stream_id:
            raise f.FrameError(f.PROTOCOL_ERROR, f"frame on stream {stream_id} we never opened")

    def _finish(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        if self._blocked.pop(stream_id, None) is not None:
            # Answered before its body was all sent (e.g. 413): stop sending it.
            self._reset(stream_id, f.CANCEL)
        stream.on_done(Http2Response(stream.code, stream.headers, bytes(stream.body)))

    def _reset_stream(self, stream_id: int, error: Exception, code: int = f.PROTOCOL_ERROR) -> None:
        stream = self._streams.pop(stream_id, None)
        self._blocked.pop(stream_id, None)
        self._reset(stream_id, code)
        if stream is not None:
            stream.on_done(error)

    def _on_goaway(self, last: int) -> None:
        """Stop new work here; streams the server never saw may be resent elsewhere."""
        self._going_away = True
        for stream_id in [sid for sid in self._streams if sid > last]:
            stream = self._streams.pop(stream_id)
            self._blocked.pop(stream_id, None)
            stream.on_done(StreamRefusedError(f"GOAWAY above stream {last}"))
        if not self._streams:
            self.close()
        self._on_capacity_change()

    def _fail_connection(self, code: int, message: str) -> None:
        """A protocol error: tell the peer why, fail every stream and drop the connection."""
        self._going_away = True
        self._out.append(f.goaway(0, code))
        self._flush()
        self._fail_all(ConnectionLostError(f"HTTP/2 protocol error: {message}"))
        if self._transport is not None:
            self._transport.close()

    # -- liveness ---------------------------------------------------------
    def _probe_liveness(self) -> None:
        """Ask the peer for a PING ACK and drop the connection if none comes in time."""
        if self._probe is not None or self._closed.is_set():
            return
        self._out.append(f.frame(f.PING, 0, 0, _PING_PAYLOAD))
        self._flush_soon()
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
        streams, self._streams = self._streams, {}
        self._blocked.clear()
        for stream in streams.values():
            stream.on_done(error)

    def _reset(self, stream_id: int, code: int) -> None:
        self._out.append(f.rst_stream(stream_id, code))
        self._flush_soon()

    # -- writing ----------------------------------------------------------
    def _flush_soon(self) -> None:
        # Requests started in the same loop iteration share one socket write (one syscall
        # for many streams instead of one each); `_out` keeps the frames in order meanwhile.
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Say GOAWAY politely (when possible) and close the socket."""
        if self._transport is None or self._transport.is_closing():
            return
        self._going_away = True
        self._out.append(f.goaway(0, f.NO_ERROR))
        self._flush()
        self._transport.close()

    async def wait_closed(self) -> None:
        """Wait until the transport reports it is gone."""
        await self._closed.wait()
