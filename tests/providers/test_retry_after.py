"""Retry-After parsing."""

from __future__ import annotations

import pytest

from clarion.providers.retry_after import parse_retry_after


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now=now) == 60.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=1_700_000_000.0) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
def test_retry_after_unreadable(value: str | None) -> None:
    assert parse_retry_after(value) is None
