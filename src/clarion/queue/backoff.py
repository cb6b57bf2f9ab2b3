"""Exponential backoff with full jitter for jobs that ask to be retried."""

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

    def ceiling(self, attempts: int) -> float:
        """Largest delay for a job that has been tried `attempts` times."""
        exponent = max(attempts - 1, 0)
        # Past 2**64 the float product is pointless; the cap has long been reached.
        return min(self.cap, self.base * 2.0 ** min(exponent, 64))

    def delay(self, attempts: int, rng: random.Random) -> float:
        """A random delay for a job that has been tried `attempts` times."""
        return rng.uniform(0.0, self.ceiling(attempts))
