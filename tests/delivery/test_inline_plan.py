"""A small send is planned in its accept transaction and its delivery starts in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from tests.delivery.injection import received
from tests.delivery_env import DeliveryEnv, delivery_env


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion with its in-process workers."""
    async with delivery_env(database_url, tmp_path) as harness:
        yield harness


async def test_a_one_token_send_needs_no_planning_job_nor_claim(
    env: DeliveryEnv, database_url: str
) -> None:
    token = await env.ios("phone")
    send_id = await env.send({"recipients": {"tokens": [token]}, "content": {"body": "hi"}})
    done = await env.wait_done(send_id, seconds=30)
    assert done["status"] == "done" and done["counts"]["sent"] == 1, done
    assert received(env, "ios", token) == 1

    engine = create_engine(database_url)
    query = select(jobs.c.kind, jobs.c.status, jobs.c.attempts).where(jobs.c.send_id == send_id)
    try:
        # The job is settled in the queue writer's next group, just after the send is done.
        for _ in range(100):
            async with engine.connect() as conn:
                found = [tuple(row) for row in (await conn.execute(query)).all()]
            if found and found[0][1] == "done":
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
    # One deliver job, created leased to this process's worker: its only claim.
    assert found == [("deliver", "done", 1)]
