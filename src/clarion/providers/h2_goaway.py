"""Split inbound HTTP/2 bytes into frames, lifting GOAWAY frames out for separate handling.

The h2 state machine closes itself on GOAWAY and then rejects the responses
the server still owes for streams at or below last_stream_id. Handling GOAWAY
here lets those responses complete, which is what a graceful GOAWAY promises.
"""

from __future__ import annotations

from dataclasses import dataclass

FRAME_HEADER_LENGTH = 9
GOAWAY_FRAME_TYPE = 0x7


@dataclass(frozen=True, slots=True)
class Goaway:
    """A GOAWAY frame: streams above `last_stream_id` were never processed."""

    last_stream_id: int
    error_code: int


class GoawaySplitter:
    """Buffers partial frames and yields whole-frame byte runs and GOAWAY notices, in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes | Goaway]:
        """Everything complete so far, in wire order; partial frames wait for more bytes."""
        self._buffer.extend(data)
        parts: list[bytes | Goaway] = []
        start = 0
        position = 0
        buffer = self._buffer
        while len(buffer) - position >= FRAME_HEADER_LENGTH:
            length = int.from_bytes(buffer[position : position + 3], "big")
            end = position + FRAME_HEADER_LENGTH + length
            if end > len(buffer):
                break
            if buffer[position + 3] == GOAWAY_FRAME_TYPE and length >= 8:
                if position > start:
                    parts.append(bytes(buffer[start:position]))
                payload = buffer[position + FRAME_HEADER_LENGTH : end]
                last_stream_id = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
                error_code = int.from_bytes(payload[4:8], "big")
                parts.append(Goaway(last_stream_id, error_code))
                start = end
            position = end
        if position > start:
            parts.append(bytes(buffer[start:position]))
        del buffer[:position]
        return parts
