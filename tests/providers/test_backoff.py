"""Backoff policy and Retry-After parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.providers.backoff import backoff_delay
from clarion.providers.retry_after import parse_retry_after


def test_full_jitter_upper_bound_doubles_per_attempt() -> None:
    top = lambda: 1.0  # noqa: E731 - the largest draw shows the ceiling
    assert [backoff_delay(n, base=1.0, cap=100.0, random_fraction=top) for n in (1, 2, 3, 4)] == [
        1.0,
        2.0,
        4.0,
        8.0,
    ]


def test_ceiling_is_capped() -> None:
    assert backoff_delay(30, base=1.0, cap=60.0, random_fraction=lambda: 1.0) == 60.0


def test_jitter_scales_the_ceiling() -> None:
    assert backoff_delay(3, base=2.0, cap=100.0, random_fraction=lambda: 0.25) == 2.0


def test_retry_after_is_a_floor() -> None:
    assert backoff_delay(1, retry_after=30.0, random_fraction=lambda: 0.5) == 30.0


def test_retry_after_below_jitter_does_not_shorten_delay() -> None:
    assert backoff_delay(5, base=1.0, cap=100.0, retry_after=1.0, random_fraction=lambda: 1.0) == 16


def test_retry_after_may_exceed_cap() -> None:
    assert backoff_delay(1, cap=10.0, retry_after=120.0, random_fraction=lambda: 0.0) == 120.0


@pytest.mark.parametrize("attempt", [0, -1])
def test_rejects_attempts_below_one(attempt: int) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt)


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    cap=st.floats(min_value=0.001, max_value=1e6),
)
def test_delay_stays_within_zero_and_cap(attempt: int, fraction: float, cap: float) -> None:
    delay = backoff_delay(attempt, cap=cap, random_fraction=lambda: fraction)
    assert 0.0 <= delay <= cap


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
