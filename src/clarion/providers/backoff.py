"""Retry delay policy: exponential backoff with full jitter, capped, honouring Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_BASE_SECONDS = 1.0
DEFAULT_CAP_SECONDS = 600.0


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = DEFAULT_BASE_SECONDS,
    cap: float = DEFAULT_CAP_SECONDS,
    random_fraction: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    Full jitter draws uniformly in [0, min(cap, base * 2**(attempt-1))] so that
    many workers failing together do not retry together. A provider's
    Retry-After is a floor: retrying earlier only earns another 429. It may
    exceed `cap`, because the provider knows its own recovery time better.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    # Bound the exponent so huge attempt counts cannot overflow the float.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    delay = ceiling * random_fraction()
    if retry_after is not None and retry_after > delay:
        return retry_after
    return delay
