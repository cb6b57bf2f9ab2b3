"""The one retry backoff: exponential with full jitter, capped, honouring Retry-After.

Jobs that ask to be retried and devices whose provider answered with a transient
error both wait per this policy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry n is uniform in [0, min(cap, base * 2**(n-1))] seconds.

    Full jitter spreads the retries of a burst of failures (a provider outage)
    over the whole window instead of bringing them back in lock-step.
    """

    base: float = 1.0
    cap: float = 300.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap <= 0:
            raise ValueError("base and cap must be positive")

    def ceiling(self, attempts: int) -> float:
        """Largest delay for something that has been tried `attempts` times."""
        exponent = max(attempts - 1, 0)
        # Past 2**64 the float product is pointless; the cap has long been reached.
        return min(self.cap, self.base * 2.0 ** min(exponent, 64))

    def delay(
        self, attempts: int, rng: random.Random, *, retry_after: float | None = None
    ) -> float:
        """A random delay after `attempts` tries; a provider's Retry-After is a floor.

        Retry-After may exceed `cap`: the provider knows its own recovery time better,
        and retrying earlier only earns another refusal.
        """
        delay = self.ceiling(attempts) * rng.random()
        if retry_after is not None and retry_after > delay:
            return retry_after
        return delay
