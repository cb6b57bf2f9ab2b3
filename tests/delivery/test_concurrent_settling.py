"""Batches of one send recorded at the same time, as several worker processes do, end it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.delivery.outcomes import DeviceResult, record_outcomes
from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import DeliveryOutcome
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store.group_commit import GroupCommitWriter, before_commit
from clarion.store.send_tables import deliveries
from tests.delivery_env import DeliveryEnv, delivery_env

#: Long enough for a write that does not wait to have finished.
SETTLE_SECONDS = 0.5


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion without workers: the test records the outcomes itself."""
    async with delivery_env(database_url, tmp_path, inprocess_workers=False) as harness:
        yield harness


async def _record(
    conn: AsyncConnection, queue: SqlJobQueue, send: dict[str, Any], delivery_id: int
) -> None:
    result = DeviceResult(delivery_id, DeliveryOutcome.SENT, 1, status=200, first_attempt=True)
    await record_outcomes(
        conn,
        queue=queue,
        send=send,
        command=SendCommand.from_document(send["request"]),
        results=[result],
        retry_at=lambda now, _: now,
    )


async def test_the_last_two_batches_recorded_at_once_end_the_send(
    env: DeliveryEnv, engine: AsyncEngine
) -> None:
    for name in ("one", "two"):
        await env.ios(name)
    send_id = await env.send(
        {"recipients": {"installation_ids": ["one", "two"]}, "content": {"body": "x"}}
    )
    queue = SqlJobQueue(engine)
    async with engine.connect() as conn:
        send = await send_store.get_send(conn, send_id)
        ids = list(
            (await conn.execute(select(deliveries.c.id).where(deliveries.c.send_id == send_id)))
            .scalars()
            .all()
        )
    assert send is not None and send["status"] == "delivering" and len(ids) == 2

    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await _record(first, queue, send, ids[0])

        async def second_batch() -> None:
            await second.begin()
            await _record(second, queue, send, ids[1])
            await second.commit()

        # The second batch is written while the first is not yet committed: it must not
        # conclude from the first one's rows, still pending to it, that the send goes on.
        other = asyncio.create_task(second_batch())
        await asyncio.wait({other}, timeout=SETTLE_SECONDS)
        await first.commit()
        await other

    done = await env.wait_done(send_id, seconds=10)
    assert done["status"] == "done" and done["counts"]["sent"] == 2, done
    await queue.close()


async def test_steps_left_for_the_commit_run_once_per_key_in_key_order(
    engine: AsyncEngine,
) -> None:
    ran: list[str] = []

    def step(name: str) -> Any:
        async def run(conn: AsyncConnection) -> None:
            ran.append(name)

        return run

    async def write(conn: AsyncConnection, *keys: str) -> str:
        for key in keys:
            await before_commit(conn, key, step(key))
        ran.append("write")
        return "written"

    async def nothing(conn: AsyncConnection, rows: Any) -> set[int]:
        return set()

    writer: GroupCommitWriter[Any] = GroupCommitWriter(
        engine, nothing, immediate=engine.dialect.name == "sqlite"
    )
    # Queued before the writer runs, so that both land in one group.
    first = asyncio.ensure_future(writer.write(lambda conn: write(conn, "send:b", "send:a")))
    second = asyncio.ensure_future(writer.write(lambda conn: write(conn, "send:a")))
    assert await asyncio.gather(first, second) == ["written", "written"]
    await writer.close()
    assert writer.stats.groups == 1
    assert ran == ["write", "write", "send:a", "send:b"]

    # Outside the writer a step runs at once.
    ran.clear()
    async with engine.connect() as conn:
        await write(conn, "send:c")
    assert ran == ["send:c", "write"]
