"""HPACK decoding of response header blocks (RFC 7541), tuned for many small responses.

Every APNs answer carries a fresh `apns-id`, Huffman-coded and entered into the
table, so decoding is on the path of every notification. The Huffman code is read a
byte at a time through a table derived once from the `hpack` package's nibble state
machine, and the header table is a plain deque.
"""

from __future__ import annotations

from collections import deque

from hpack.huffman_table import (
    HUFFMAN_COMPLETE,
    HUFFMAN_EMIT_SYMBOL,
    HUFFMAN_FAIL,
    HUFFMAN_TABLE,
)
from hpack.table import HeaderTable

#: The table size we advertise (the default; our SETTINGS never change it).
DEFAULT_TABLE_SIZE = 4096
#: Most bytes of decoded headers (with RFC 7541's 32-byte entry overhead) we accept.
MAX_HEADER_LIST_SIZE = 65_536
_ENTRY_OVERHEAD = 32
_STATIC = HeaderTable.STATIC_TABLE
_STATIC_COUNT = len(_STATIC)
_INTEGER_SHIFT_LIMIT = 28


class HpackDecodingError(Exception):
    """The header block cannot be decoded; the connection's tables are lost."""


# (next state, bytes emitted, whether the code may end here) per (state, input byte);
# a next state of -1 marks an invalid code. Filled in as pairs are first met: the
# strings a server sends use few of the 65,536.
_ByteStep = tuple[int, bytes, bool]
_BYTE_STEPS: list[_ByteStep | None] = [None] * (len(HUFFMAN_TABLE) // 16 * 256)


def _byte_step(key: int) -> _ByteStep:
    current, emitted, complete = key >> 8, bytearray(), False
    for nibble in ((key >> 4) & 0x0F, key & 0x0F):
        current, flags, symbol = HUFFMAN_TABLE[current * 16 + nibble]
        if flags & HUFFMAN_FAIL:
            current = -1
            break
        if flags & HUFFMAN_EMIT_SYMBOL:
            emitted.append(symbol)
        complete = bool(flags & HUFFMAN_COMPLETE)
    step = (current, bytes(emitted), complete)
    _BYTE_STEPS[key] = step
    return step


def decode_huffman(data: bytes) -> bytes:
    """The text a Huffman-coded string stands for."""
    steps = _BYTE_STEPS
    state = 0
    complete = True
    parts: list[bytes] = []
    keep = parts.append
    for byte in data:
        key = (state << 8) | byte
        step = steps[key] or _byte_step(key)
        state, emitted, complete = step
        if state < 0:
            raise HpackDecodingError("invalid Huffman code")
        keep(emitted)
    if not complete:
        raise HpackDecodingError("incomplete Huffman code")
    return b"".join(parts)


def _integer(data: bytes, position: int, prefix_bits: int) -> tuple[int, int]:
    mask = (1 << prefix_bits) - 1
    value = data[position] & mask
    position += 1
    if value < mask:
        return value, position
    shift = 0
    while True:
        if position >= len(data):
            raise HpackDecodingError("integer runs past the block")
        byte = data[position]
        position += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > _INTEGER_SHIFT_LIMIT:
            raise HpackDecodingError("integer too large")


def _string(data: bytes, position: int) -> tuple[bytes, int]:
    if position >= len(data):
        raise HpackDecodingError("string runs past the block")
    huffman = data[position] & 0x80
    length, position = _integer(data, position, 7)
    end = position + length
    if end > len(data):
        raise HpackDecodingError("string runs past the block")
    raw = data[position:end]
    return (decode_huffman(raw) if huffman else raw), end


class ResponseDecoder:
    """The decoder side of one connection's HPACK context."""

    def __init__(self, table_limit: int = DEFAULT_TABLE_SIZE) -> None:
        self._limit = table_limit
        self._max = table_limit
        self._size = 0
        # Newest first, as HPACK numbers them.
        self._entries: deque[tuple[bytes, bytes]] = deque()

    @property
    def entries(self) -> list[tuple[bytes, bytes]]:
        """The dynamic table, newest first (for tests)."""
        return list(self._entries)

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """The (name, value) fields of one complete header block, in order."""
        fields: list[tuple[bytes, bytes]] = []
        position = 0
        end = len(block)
        listed = 0
        while position < end:
            byte = block[position]
            if byte & 0x80:
                index, position = _integer(block, position, 7)
                field = self._field(index)
            elif byte & 0x40:
                index, position = _integer(block, position, 6)
                name, position = (
                    (self._field(index)[0], position) if index else _string(block, position)
                )
                value, position = _string(block, position)
                field = (name, value)
                self._add(field)
            elif byte & 0x20:
                if fields:
                    raise HpackDecodingError("table size update after a header field")
                size, position = _integer(block, position, 5)
                if size > self._limit:
                    raise HpackDecodingError("table size update above our limit")
                self._max = size
                self._evict()
                continue
            else:
                # Literal without indexing (0000) or never indexed (0001).
                index, position = _integer(block, position, 4)
                name, position = (
                    (self._field(index)[0], position) if index else _string(block, position)
                )
                value, position = _string(block, position)
                field = (name, value)
            listed += len(field[0]) + len(field[1]) + _ENTRY_OVERHEAD
            if listed > MAX_HEADER_LIST_SIZE:
                raise HpackDecodingError("header list too large")
            fields.append(field)
        return fields

    def _field(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= _STATIC_COUNT:
            return _STATIC[index - 1]
        dynamic = index - _STATIC_COUNT - 1
        if index <= 0 or dynamic >= len(self._entries):
            raise HpackDecodingError(f"header index {index} is not in the table")
        return self._entries[dynamic]

    def _add(self, field: tuple[bytes, bytes]) -> None:
        size = len(field[0]) + len(field[1]) + _ENTRY_OVERHEAD
        if size > self._max:
            # An entry larger than the table empties it and is not kept (RFC 7541 4.4).
            self._entries.clear()
            self._size = 0
            return
        self._entries.appendleft(field)
        self._size += size
        self._evict()

    def _evict(self) -> None:
        entries = self._entries
        while self._size > self._max:
            name, value = entries.pop()
            self._size -= len(name) + len(value) + _ENTRY_OVERHEAD
