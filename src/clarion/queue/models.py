"""Value objects exchanged with the job queue: new jobs, claimed jobs, handler results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_LEASE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue; `run_at` None means due now, `max_attempts` None the queue's default."""

    kind: str
    payload: dict[str, Any]
    send_id: str | None = None
    priority: int = 0
    run_at: datetime | None = None
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        """Reject jobs that could never run."""
        if not self.kind:
            raise ValueError("a job needs a kind")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.run_at is not None and self.run_at.tzinfo is None:
            raise ValueError("run_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Job:
    """A job as claimed by a worker; (lease_owner, attempts) identifies this lease."""

    id: int
    kind: str
    payload: dict[str, Any]
    send_id: str | None
    priority: int
    attempts: int
    max_attempts: int
    lease_owner: str
    lease_expires_at: datetime
    last_error: str | None
    created_at: datetime
    #: What the process that created the job already holds for its handler (a handed-
    #: over job only): spares the handler reading back what was just written. Never
    #: stored; a job claimed from the table has none.
    context: Any = field(default=None, compare=False, repr=False)


Outcome = Literal["done", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class HandlerResult:
    """What a handler decided for a job: done, retry (optionally after a delay) or failed."""

    outcome: Outcome
    retry_after: float | None = None
    error: str | None = None

    @classmethod
    def done(cls) -> HandlerResult:
        """The job succeeded."""
        return cls("done")

    @classmethod
    def retry(cls, error: str, after: float | None = None) -> HandlerResult:
        """Try again later: after `after` seconds, or per the backoff policy when None."""
        if after is not None and after < 0:
            raise ValueError("retry delay cannot be negative")
        return cls("retry", after, error)

    @classmethod
    def failed(cls, error: str) -> HandlerResult:
        """The job failed for good; it is not retried."""
        return cls("failed", None, error)


@dataclass(frozen=True, slots=True)
class Settlement:
    """One state change of a leased job, applied only if the lease is still held."""

    job_id: int
    owner: str
    attempts: int
    status: str
    run_at: datetime | None = None
    error: str | None = None
    # 1 when a job is handed back unstarted, so the claim does not count as an attempt.
    refund: int = 0
