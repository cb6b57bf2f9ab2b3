"""The interface a worker needs from a job queue, so other brokers can stand in later."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from clarion.queue.models import DEFAULT_LEASE_SECONDS, Job


class JobQueue(Protocol):
    """Claiming and settling leased jobs."""

    async def claim(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        kinds: Sequence[str] | None = None,
        single_kinds: Sequence[str] = (),
    ) -> list[Job]:
        """Lease up to `limit` due jobs to `owner`, one at most of `single_kinds`."""
        ...

    async def complete(self, jobs: Sequence[Job]) -> set[int]:
        """Mark jobs done; return the ids whose lease was still held."""
        ...

    async def retry(self, job: Job, run_at: datetime, error: str) -> bool:
        """Requeue a job for `run_at`; tell whether the lease was still held."""
        ...

    async def fail(self, job: Job, error: str) -> bool:
        """Mark a job failed for good; tell whether the lease was still held."""
        ...

    async def release(self, jobs: Sequence[Job]) -> set[int]:
        """Hand unfinished jobs back, due now, without counting the attempt."""
        ...

    async def extend_leases(
        self, owner: str, ids: Iterable[int], lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> set[int]:
        """Push back the leases `owner` still holds; return those ids."""
        ...

    async def wait_for_work(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Sleep until jobs may be due or `timeout` passes; tell whether something woke us."""
        ...
