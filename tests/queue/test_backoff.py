"""The retry backoff shared by jobs and devices."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.queue.backoff import Backoff


class Fixed(random.Random):
    """A generator whose every draw is the same fraction, to show the ceiling."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def random(self) -> float:
        return self.fraction


def test_full_jitter_upper_bound_doubles_per_attempt() -> None:
    policy = Backoff(base=1.0, cap=100.0)
    assert [policy.delay(n, Fixed(1.0)) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_ceiling_is_capped() -> None:
    assert Backoff(base=1.0, cap=60.0).delay(30, Fixed(1.0)) == 60.0


def test_jitter_scales_the_ceiling() -> None:
    assert Backoff(base=2.0, cap=100.0).delay(3, Fixed(0.25)) == 2.0


def test_retry_after_is_a_floor() -> None:
    assert Backoff().delay(1, Fixed(0.5), retry_after=30.0) == 30.0


def test_retry_after_below_jitter_does_not_shorten_delay() -> None:
    assert Backoff(base=1.0, cap=100.0).delay(5, Fixed(1.0), retry_after=1.0) == 16


def test_retry_after_may_exceed_cap() -> None:
    assert Backoff(cap=10.0).delay(1, Fixed(0.0), retry_after=120.0) == 120.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)])
def test_rejects_a_policy_that_never_waits(base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        Backoff(base=base, cap=cap)


@given(
    attempts=st.integers(min_value=0, max_value=10_000),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    cap=st.floats(min_value=0.001, max_value=1e6),
)
def test_delay_stays_within_zero_and_cap(attempts: int, fraction: float, cap: float) -> None:
    delay = Backoff(cap=cap).delay(attempts, Fixed(fraction))
    assert 0.0 <= delay <= cap
