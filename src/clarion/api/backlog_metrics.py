"""Gauges of the queue and the open sends, read from the database when /metrics is scraped."""

from __future__ import annotations

import logging

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.domain.vocabulary import JobKind
from clarion.store.backlog import job_backlog, open_sends
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

QUEUE_JOBS = Gauge(
    "clarion_queue_jobs",
    "Jobs in the queue by kind and state: `due` (waiting for a worker), `leased`, `later`",
    ["kind", "state"],
)
QUEUE_OLDEST_DUE = Gauge(
    "clarion_queue_oldest_due_seconds",
    "Age of the oldest job due and not yet claimed, by kind (0 when none waits)",
    ["kind"],
)
OPEN_SENDS = Gauge("clarion_open_sends", "Sends not yet ended, by status", ["status"])
BACKLOG_READ_FAILED = Gauge(
    "clarion_backlog_read_failed", "1 when the last read of the queue and send gauges failed"
)


async def refresh_backlog(engine: AsyncEngine) -> None:
    """Set the queue and send gauges from the database; a failure leaves the last values."""
    try:
        async with engine.connect() as conn:
            backlog = await job_backlog(conn, utcnow())
            statuses = await open_sends(conn)
    except Exception as exc:
        log.warning("reading the queue backlog for /metrics failed: %r", exc)
        BACKLOG_READ_FAILED.set(1)
        return
    BACKLOG_READ_FAILED.set(0)
    # Kinds with nothing left read zero rather than keeping their last value.
    for metric in (QUEUE_JOBS, QUEUE_OLDEST_DUE):
        metric.clear()
    for kind in JobKind:
        QUEUE_OLDEST_DUE.labels(kind).set(0)
        for state in ("due", "leased", "later"):
            QUEUE_JOBS.labels(kind, state).set(0)
    for entry in backlog:
        QUEUE_JOBS.labels(entry.kind, "due").set(entry.due)
        QUEUE_JOBS.labels(entry.kind, "leased").set(entry.leased)
        QUEUE_JOBS.labels(entry.kind, "later").set(entry.later)
        QUEUE_OLDEST_DUE.labels(entry.kind).set(entry.oldest_due_seconds)
    for status, count in statuses.items():
        OPEN_SENDS.labels(status).set(count)
