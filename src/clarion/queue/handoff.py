"""Jobs leased to this process's worker in the transaction that creates them.

A request that makes a job this process can run at once (a small send's deliver job)
inserts it already leased to the local worker, then hands it over once the transaction
has committed: no claim statement and no wait for the next claim between the answer
and the work. The lease is the safety net: if the process dies before the job is
settled, the lease runs out and any worker claims the job, exactly as for a claimed
job whose worker died.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from clarion.queue.models import Job


class LocalRunner(Protocol):
    """A worker in this process that takes jobs leased to it at creation."""

    @property
    def owner(self) -> str:
        """The lease owner the jobs are created under."""
        ...

    @property
    def lease_seconds(self) -> float:
        """How long a created lease lasts before another worker may take the job over."""
        ...

    def has_room(self, kind: str) -> bool:
        """Whether a job of `kind` handed over now would start at once."""
        ...

    def adopt(self, jobs: Sequence[Job]) -> None:
        """Start committed jobs leased to `owner`."""
        ...
