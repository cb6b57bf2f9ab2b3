"""Memoise HPACK Huffman decoding so a repeated never-indexed header costs one decode.

HTTP/2 clients send `authorization` as a never-indexed literal, so the same provider token
arrives Huffman-encoded on every request. hpack decodes it in pure Python, which alone cost
the emulator about half of its CPU per request. Decoding is a pure function of its input,
so caching it changes no result.
"""

from __future__ import annotations

import functools

import hpack.hpack
from hpack.huffman_table import decode_huffman

_CACHE_SIZE = 4096
_MIN_CACHED_BYTES = 32


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_decode(encoded: bytes) -> bytes:
    return decode_huffman(encoded)


def _decode(encoded: bytes | bytearray | memoryview | None) -> bytes:
    # Short strings decode quickly; caching them would only churn the cache.
    if encoded is None or len(encoded) < _MIN_CACHED_BYTES:
        return decode_huffman(encoded)
    return _cached_decode(bytes(encoded))


def install() -> None:
    """Route hpack's Huffman decoding through the cache (idempotent)."""
    namespace = vars(hpack.hpack)
    if namespace.get("decode_huffman") is not _decode:
        namespace["decode_huffman"] = _decode
