"""Small helpers shared by the queue tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.models import NewJob
from clarion.queue.sql import SqlJobQueue
from clarion.store.job_tables import jobs


async def enqueue(queue: SqlJobQueue, *new_jobs: NewJob) -> list[int]:
    """Enqueue jobs in a transaction of their own and commit it."""
    async with queue.engine.begin() as conn:
        return await queue.enqueue(conn, list(new_jobs))


def job(kind: str = "test", **fields: Any) -> NewJob:
    """A new job with a small payload."""
    payload = fields.pop("payload", {"n": 1})
    return NewJob(kind=kind, payload=payload, **fields)


async def rows(engine: AsyncEngine) -> dict[int, dict[str, Any]]:
    """Every job row by id."""
    async with engine.connect() as conn:
        result = await conn.execute(select(jobs).order_by(jobs.c.id))
        return {row["id"]: dict(row) for row in result.mappings()}


async def poll_until(condition: Callable[[], Awaitable[bool]], limit: float) -> None:
    """Check a database condition every 20 ms until it holds; TimeoutError after `limit` s."""
    # Polling, because the state lives in the database (or another process), not in an event.
    async with asyncio.timeout(limit):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)
