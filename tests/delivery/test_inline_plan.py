"""A small send is planned in its accept transaction and its delivery starts in this process."""

from __future__ import annotations

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
    try:
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    select(jobs.c.kind, jobs.c.status, jobs.c.attempts).where(
                        jobs.c.send_id == send_id
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    # One deliver job, created leased to this process's worker: its only claim.
    assert [tuple(row) for row in found] == [("deliver", "done", 1)]
