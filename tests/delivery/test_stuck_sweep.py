"""The sweep reports sends still open long after they started, and only those."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from clarion.store.engine import create_engine
from clarion.store.send_tables import sends
from clarion.store.types import utcnow
from tests.delivery_env import DeliveryEnv, delivery_env


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion sweeping every 0.1 s for sends open over a minute."""
    async with delivery_env(
        database_url, tmp_path, sweep_seconds=0.1, stuck_send_seconds=60
    ) as harness:
        yield harness


async def stuck_gauge(env: DeliveryEnv) -> float:
    """clarion_stuck_sends as /metrics shows it."""
    for family in text_string_to_metric_families((await env.http.get("/metrics")).text):
        for sample in family.samples:
            if sample.name == "clarion_stuck_sends":
                return float(sample.value)
    raise AssertionError("clarion_stuck_sends is not exported")


async def test_a_stuck_send_is_reported_and_waiting_ones_are_not(
    env: DeliveryEnv, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="clarion.delivery.sweep")
    token = await env.android("pixel")
    body = {"recipients": {"tokens": [token]}, "content": {"body": "x"}}
    stuck = (await env.wait_done(await env.send(body)))["id"]
    soon = (utcnow() + timedelta(minutes=10)).isoformat()
    waiting = await env.send(body | {"schedule": {"at": soon}})
    later = (utcnow() + timedelta(hours=2)).isoformat()
    scheduled = await env.send(body | {"schedule": {"at": later}})
    fresh = (await env.wait_done(await env.send(body)))["id"]

    hours_ago = utcnow() - timedelta(hours=3)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            # Left open with nothing to move it on, as after a lost job.
            await conn.execute(
                update(sends)
                .where(sends.c.id == stuck)
                .values(status="delivering", completed_at=None, created_at=hours_ago)
            )
            # Open for hours, but its planning job is due later: it is waiting on purpose.
            await conn.execute(
                update(sends)
                .where(sends.c.id == waiting)
                .values(created_at=hours_ago, scheduled_at=hours_ago)
            )
            # Created long ago for a time still to come: not started yet.
            await conn.execute(
                update(sends).where(sends.c.id == scheduled).values(created_at=hours_ago)
            )
            await conn.execute(update(sends).where(sends.c.id == fresh).values(status="delivering"))
    finally:
        await engine.dispose()

    # Polling, because the sweep runs on its own clock in the worker.
    async with asyncio.timeout(10):
        while True:
            if any(stuck in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    named = " ".join(r.getMessage() for r in caplog.records)
    assert "is still delivering" in named
    assert waiting not in named and scheduled not in named and fresh not in named
    assert await stuck_gauge(env) == 1
