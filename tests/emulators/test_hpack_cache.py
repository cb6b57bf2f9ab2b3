"""The HPACK Huffman cache returns what hpack itself decodes, and decodes a repeat only once."""

from __future__ import annotations

import hpack
import hpack.hpack
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.huffman_table import decode_huffman

from clarion.emulators import hpack_cache


def test_cached_decoding_matches_hpack() -> None:
    hpack_cache.install()
    hpack_cache.install()
    encoder = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
    for text in (b"short", b"bearer " + b"eyJhbGciOiJFUzI1NiJ9." * 8, b""):
        encoded = encoder.encode(text)
        assert vars(hpack.hpack)["decode_huffman"](encoded) == decode_huffman(encoded) == text


def test_headers_round_trip_and_repeats_hit_the_cache() -> None:
    hpack_cache.install()
    token = "bearer " + "x1y2z3" * 40
    headers = [hpack.NeverIndexedHeaderTuple("authorization", token)]
    block = hpack.Encoder().encode(headers)
    before = hpack_cache._cached_decode.cache_info()
    first = hpack.Decoder().decode(block, raw=True)
    second = hpack.Decoder().decode(block, raw=True)
    after = hpack_cache._cached_decode.cache_info()
    expected = [(b"authorization", token.encode())]
    assert [tuple(h) for h in first] == [tuple(h) for h in second] == expected
    assert after.hits >= before.hits + 1
