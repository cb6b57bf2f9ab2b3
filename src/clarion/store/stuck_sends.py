"""The query behind the stuck-send sweep: open sends that nothing due will end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import OPEN_STATUSES
from clarion.store.job_tables import QUEUED, jobs
from clarion.store.send_tables import sends


@dataclass(frozen=True)
class StuckSend:
    """A send the sweep reports."""

    id: str
    project_id: str
    status: str
    started_at: datetime


async def stuck_sends(
    conn: AsyncConnection, now: datetime, older_than: timedelta, limit: int
) -> tuple[int, list[StuckSend]]:
    """How many sends are stuck, and the `limit` that started first.

    Stuck: not final, started more than `older_than` ago (a scheduled send starts at
    its scheduled time), and none of its jobs waiting for a later time on purpose.
    """
    started = func.coalesce(sends.c.scheduled_at, sends.c.created_at)
    waiting = exists().where(
        jobs.c.send_id == sends.c.id, jobs.c.status == QUEUED, jobs.c.run_at > now
    )
    stuck = (sends.c.status.in_(OPEN_STATUSES), started < now - older_than, ~waiting)
    listing = (
        select(sends.c.id, sends.c.project_id, sends.c.status, started.label("started_at"))
        .where(*stuck)
        .order_by(started, sends.c.id)
        .limit(limit)
    )
    total = int((await conn.execute(select(func.count()).where(*stuck))).scalar_one())
    found = [
        StuckSend(row.id, row.project_id, row.status, row.started_at)
        for row in await conn.execute(listing)
    ]
    return total, found
