"""HPACK encoding of request headers (RFC 7541) for a client sending many alike requests.

The headers every request of a batch shares (method, scheme, authority, credentials,
provider options) are entered into the dynamic table once and then sent as the same few
index bytes. Per-request values (the path with its device token, the length) go as
literals that are never indexed, so the table never changes between requests and the
encoded shared part stays valid until a different shared set replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The table size HPACK starts with, and the most this encoder ever uses.
DEFAULT_TABLE_SIZE = 4096
_ENTRY_OVERHEAD = 32
_STATIC_METHOD = {b"GET": 2, b"POST": 3}
_STATIC_SCHEME_HTTPS = 7
_NAME_METHOD = 2
_NAME_AUTHORITY = 1
_NAME_PATH = 4
_NAME_CONTENT_LENGTH = 28
_FIRST_DYNAMIC = 62


def integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """`value` as an HPACK integer with an N-bit prefix, `flags` in the first byte's top bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(value: bytes) -> bytes:
    """A string literal, not Huffman-coded (cheaper to make; the bytes saved would be few)."""
    return integer(len(value), 7, 0) + value


def literal(name_index: int, value: bytes) -> bytes:
    """A field with an indexed name and a value that is neither indexed nor to be indexed."""
    return integer(name_index, 4, 0x00) + string(value)


def literal_new_name(name: bytes, value: bytes) -> bytes:
    """A field with a literal name and value, not indexed."""
    return b"\x00" + string(name) + string(value)


class RequestEncoder:
    """The encoder side of one connection's HPACK context."""

    def __init__(self) -> None:
        self._table_size = DEFAULT_TABLE_SIZE
        self._key: tuple[object, bytes, bytes] | None = None
        self._pseudo = b""
        self._regular = b""

    def set_table_limit(self, limit: int) -> None:
        """Follow the peer's SETTINGS_HEADER_TABLE_SIZE: the next block empties and resizes."""
        size = min(limit, DEFAULT_TABLE_SIZE)
        if size != self._table_size:
            self._table_size = size
            self._key = None

    def encode(
        self,
        method: bytes,
        authority: bytes,
        path: bytes,
        shared: Sequence[tuple[bytes, bytes]],
        content_length: int | None,
    ) -> bytes:
        """One request's header block; `shared` must be the very object of earlier alike calls."""
        key = self._key
        if key is None or key[0] is not shared or key[1] != method or key[2] != authority:
            pseudo, regular = self._enter(method, authority, shared)
            self._key = (shared, method, authority)
        else:
            pseudo, regular = self._pseudo, self._regular
        block = pseudo + literal(_NAME_PATH, path) + regular
        if content_length is not None:
            block += literal(_NAME_CONTENT_LENGTH, str(content_length).encode())
        return block

    def _enter(
        self, method: bytes, authority: bytes, shared: Sequence[tuple[bytes, bytes]]
    ) -> tuple[bytes, bytes]:
        """The first block's parts for a new shared set: empty the table, index the set into it.

        Returns the pseudo-header and regular parts of this first block and keeps the
        parts later blocks send instead (index references).
        """
        # Two size updates: to 0 evicts everything, then back to the size in use.
        entering = bytearray(integer(0, 5, 0x20))
        if self._table_size:
            entering += integer(self._table_size, 5, 0x20)
        room = self._table_size
        fields: list[tuple[int | None, bytes, bytes]] = []
        static_method = _STATIC_METHOD.get(method)
        pseudo_first = bytearray(entering)
        pseudo_later = bytearray()
        if static_method is not None:
            pseudo_first += integer(static_method, 7, 0x80)
            pseudo_later += integer(static_method, 7, 0x80)
        else:
            pseudo_first += literal(_NAME_METHOD, method)
            pseudo_later += literal(_NAME_METHOD, method)
        pseudo_first += integer(_STATIC_SCHEME_HTTPS, 7, 0x80)
        pseudo_later += integer(_STATIC_SCHEME_HTTPS, 7, 0x80)
        fields.append((_NAME_AUTHORITY, b":authority", authority))
        fields.extend((None, name, value) for name, value in shared)
        # Which fields fit the table, in order; the rest stay literals every time.
        indexed: list[bool] = []
        for _, name, value in fields:
            size = len(name) + len(value) + _ENTRY_OVERHEAD
            fits = size <= room
            if fits:
                room -= size
            indexed.append(fits)
        count = sum(indexed)
        position = 0
        regular_first = bytearray()
        regular_later = bytearray()
        for (name_index, name, value), fits in zip(fields, indexed, strict=True):
            first_part = pseudo_first if name_index == _NAME_AUTHORITY else regular_first
            later_part = pseudo_later if name_index == _NAME_AUTHORITY else regular_later
            if fits:
                # Entries are numbered newest first: the last one entered is 62.
                index = _FIRST_DYNAMIC + count - 1 - position
                position += 1
                if name_index is not None:
                    first_part += integer(name_index, 6, 0x40) + string(value)
                else:
                    first_part += b"\x40" + string(name) + string(value)
                later_part += integer(index, 7, 0x80)
            elif name_index is not None:
                field = literal(name_index, value)
                first_part += field
                later_part += field
            else:
                field = literal_new_name(name, value)
                first_part += field
                later_part += field
        self._pseudo = bytes(pseudo_later)
        self._regular = bytes(regular_later)
        return bytes(pseudo_first), bytes(regular_first)
