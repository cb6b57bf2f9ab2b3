"""Prometheus metrics of the job queue and its workers (exported on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_CLAIMED = Counter("clarion_jobs_claimed_total", "Jobs leased by workers", ["kind"])
JOB_OUTCOMES = Counter(
    "clarion_job_outcomes_total",
    "Outcomes recorded by workers; `lost` means another worker had taken the job over",
    ["kind", "outcome"],
)
JOBS_EXHAUSTED = Counter(
    "clarion_jobs_exhausted_total",
    "Jobs given up (attempts exhausted or failed for good); their sends end with an error",
    ["kind"],
)
JOB_SECONDS = Histogram("clarion_job_handler_seconds", "Time a handler took for a job", ["kind"])
GROUP_COMMIT_REQUESTS = Histogram(
    "clarion_queue_group_commit_requests",
    "Requests carried by one group-commit transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
