"""Request header checks made before HPACK encoding."""

from __future__ import annotations

import pytest

from clarion.providers.h2_errors import InvalidRequestError
from clarion.providers.h2_headers import clean_headers


def test_lowercases_and_trims() -> None:
    assert clean_headers([(" APNs-Topic ", " com.example "), ("apns-priority", "10")]) == [
        (b"apns-topic", b"com.example"),
        (b"apns-priority", b"10"),
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("connection", "close"),
        ("Transfer-Encoding", "chunked"),
        ("te", "trailers"),
        ("content-length", "3"),
        (":path", "/elsewhere"),
        ("bad name", "x"),
        ("", "x"),
        ("apns-topic", "a\r\nb"),
        ("apns-topic", "nul\x00"),
        ("apns-topic", "snowman \u2603"),
    ],
)
def test_refuses_headers_http2_forbids(name: str, value: str) -> None:
    with pytest.raises(InvalidRequestError):
        clean_headers([(name, value)])
