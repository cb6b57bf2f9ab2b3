"""HTTP/2 frames on the wire (RFC 9113): building the client's frames, splitting the server's."""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5

NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9

DEFAULT_WINDOW = 65_535
DEFAULT_FRAME_SIZE = 16_384
MAX_FRAME_SIZE_LIMIT = (1 << 24) - 1
MAX_WINDOW = (1 << 31) - 1
MAX_STREAM_ID = (1 << 31) - 1

_HEADER = struct.Struct(">HBBBL")
_SETTING = struct.Struct(">HL")
_U32 = struct.Struct(">L")
_U32_PAIR = struct.Struct(">LL")


class FrameError(Exception):
    """The peer broke the framing rules; `code` is the HTTP/2 error code to close with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: the 9-byte header and its payload."""
    length = len(payload)
    return _HEADER.pack(length >> 8, length & 0xFF, kind, flags, stream_id) + payload


def settings(values: dict[int, int]) -> bytes:
    """A SETTINGS frame carrying `values`."""
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in values.items()))


def window_update(stream_id: int, increment: int) -> bytes:
    """A WINDOW_UPDATE frame."""
    return frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(increment))


def rst_stream(stream_id: int, code: int) -> bytes:
    """A RST_STREAM frame."""
    return frame(RST_STREAM, 0, stream_id, _U32.pack(code))


def goaway(last_stream_id: int, code: int) -> bytes:
    """A GOAWAY frame."""
    return frame(GOAWAY, 0, 0, _U32_PAIR.pack(last_stream_id, code))


def u32(payload: bytes, offset: int = 0) -> int:
    """The big-endian 32-bit number at `offset`."""
    return int(_U32.unpack_from(payload, offset)[0])


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    """The (code, value) pairs of a SETTINGS payload."""
    if len(payload) % 6:
        raise FrameError(FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6")
    return [_SETTING.unpack_from(payload, at) for at in range(0, len(payload), 6)]


def strip_padding(flags: int, payload: bytes) -> bytes:
    """A DATA or HEADERS payload without its padding."""
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise FrameError(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - payload[0]]


class FrameReader:
    """Buffers inbound bytes and yields complete frames as (type, flags, stream, payload)."""

    def __init__(self, max_frame_size: int = DEFAULT_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_frame_size

    def feed(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        """Every frame complete so far, in wire order; a partial frame waits for more bytes."""
        buffer = self._buffer
        if buffer:
            buffer.extend(data)
            view: bytes | bytearray = buffer
        else:
            view = data
        frames: list[tuple[int, int, int, bytes]] = []
        position = 0
        size = len(view)
        unpack = _HEADER.unpack_from
        while size - position >= 9:
            high, low, kind, flags, stream_id = unpack(view, position)
            length = (high << 8) | low
            if length > self._max:
                raise FrameError(FRAME_SIZE_ERROR, f"frame of {length} bytes is over the limit")
            end = position + 9 + length
            if end > size:
                break
            frames.append((kind, flags, stream_id & MAX_STREAM_ID, bytes(view[position + 9 : end])))
            position = end
        if view is buffer:
            del buffer[:position]
        elif position < size:
            buffer.extend(data[position:])
        return frames
