"""What is waiting: jobs queued or leased, and sends not yet ended, read for /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import OPEN_STATUSES
from clarion.store.job_tables import LEASED, QUEUED, jobs
from clarion.store.send_tables import sends


@dataclass(frozen=True)
class JobBacklog:
    """Jobs of one kind: due and waiting to be claimed, held by a worker, due later."""

    kind: str
    due: int
    leased: int
    later: int
    oldest_due_seconds: float


async def job_backlog(conn: AsyncConnection, now: datetime) -> list[JobBacklog]:
    """Claimable jobs by kind; the oldest due job's age is how late the queue runs."""
    due = (jobs.c.status == QUEUED) & (jobs.c.run_at <= now)
    query = (
        select(
            jobs.c.kind,
            func.sum(case((due, 1), else_=0)).label("due"),
            func.sum(case((jobs.c.status == LEASED, 1), else_=0)).label("leased"),
            func.sum(case(((jobs.c.status == QUEUED) & (jobs.c.run_at > now), 1), else_=0)).label(
                "later"
            ),
            func.min(case((due, jobs.c.run_at), else_=None)).label("oldest"),
        )
        .where(jobs.c.status.in_((QUEUED, LEASED)))
        .group_by(jobs.c.kind)
    )
    found = []
    for row in await conn.execute(query):
        oldest = row.oldest
        if isinstance(oldest, str):  # SQLite answers an aggregate of timestamps as text
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        found.append(
            JobBacklog(
                str(row.kind), int(row.due or 0), int(row.leased or 0), int(row.later or 0), age
            )
        )
    return found


async def open_sends(conn: AsyncConnection) -> dict[str, int]:
    """Sends not yet ended, by status (every open status present, zero included)."""
    query = (
        select(sends.c.status, func.count())
        .where(sends.c.status.in_(OPEN_STATUSES))
        .group_by(sends.c.status)
    )
    counts = {str(status): 0 for status in OPEN_STATUSES}
    counts.update({str(row[0]): int(row[1]) for row in await conn.execute(query)})
    return counts
