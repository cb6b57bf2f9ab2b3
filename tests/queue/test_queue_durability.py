"""Group commit and wake-ups: acknowledged means durable, enqueued means woken."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.queue.sql import SqlJobQueue
from clarion.queue.wakeup import LISTENER_APPLICATION_NAME
from clarion.store.engine import create_engine
from tests.queue.queue_support import enqueue, job, rows


async def test_acknowledged_completions_are_visible_from_a_new_engine(
    db_url: str, queue: SqlJobQueue
) -> None:
    total = 400
    await enqueue(queue, *[job(payload={"i": i}) for i in range(total)])
    leased = await queue.claim("w", total, 30)
    assert len(leased) == total
    # Every job settles from its own task, as workers do; the writer groups them.
    acknowledged = await asyncio.gather(*(queue.complete([j]) for j in leased))
    assert set().union(*acknowledged) == {j.id for j in leased}
    assert queue.writer.stats.groups < total
    fresh = create_engine(db_url)
    try:
        stored = await rows(fresh)
    finally:
        await fresh.dispose()
    assert {r["status"] for r in stored.values()} == {"done"}
    assert len(stored) == total


async def test_one_bad_write_does_not_fail_its_group(queue: SqlJobQueue) -> None:
    ids = await enqueue(queue, job(), job())
    leased = await queue.claim("w", 2, 30)

    async def broken(conn: object) -> None:
        raise ValueError("bad request")

    results = await asyncio.gather(
        queue.complete([leased[0]]),
        queue.writer.write(broken),
        queue.complete([leased[1]]),
        return_exceptions=True,
    )
    assert results[0] == {ids[0]}
    assert isinstance(results[1], ValueError)
    assert results[2] == {ids[1]}


async def test_closed_writer_refuses_new_writes(queue: SqlJobQueue) -> None:
    await enqueue(queue, job())
    (leased,) = await queue.claim("w", 1, 30)
    await queue.close()
    try:
        await queue.complete([leased])
    except RuntimeError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed writer accepted a write")


async def test_enqueue_wakes_a_waiting_worker(
    db_url: str, engine: AsyncEngine, backend: str
) -> None:
    # A poll far longer than the test: only a real wake-up can end the wait in time.
    consumer = SqlJobQueue(engine, sqlite_poll_seconds=30)
    await consumer.wait_for_work(0.01)
    await consumer.wait_for_work(0.01)
    # On PostgreSQL the enqueue comes from another engine, as from another process;
    # on SQLite the in-process signal is what is under test.
    producer_engine = create_engine(db_url) if backend == "postgresql" else engine
    producer = SqlJobQueue(producer_engine) if backend == "postgresql" else consumer
    waiter = asyncio.create_task(consumer.wait_for_work(30))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await enqueue(producer, job())
    try:
        woke = await waiter
    finally:
        await consumer.close()
        if producer is not consumer:
            await producer.close()
            await producer_engine.dispose()
    assert woke


async def test_rolled_back_enqueue_wakes_nobody(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    await queue.wait_for_work(0.01)
    await queue.wait_for_work(0.01)
    async with engine.connect() as conn:
        await conn.begin()
        await queue.enqueue(conn, [job()])
        await conn.rollback()
    assert not await queue.wait_for_work(0.3)


async def test_transactions_share_group_commits_and_wake_workers(
    db_url: str, engine: AsyncEngine, backend: str
) -> None:
    consumer = SqlJobQueue(engine, sqlite_poll_seconds=30)
    await consumer.wait_for_work(0.01)
    await consumer.wait_for_work(0.01)
    waiter = asyncio.create_task(consumer.wait_for_work(30))

    async def accept_send(n: int) -> list[int]:
        async def write(conn: AsyncConnection) -> list[int]:
            return await consumer.enqueue(
                conn, [job(send_id=f"send-{n}"), job(send_id=f"send-{n}")]
            )

        return await consumer.run_in_transaction(write)

    try:
        accepted = await asyncio.gather(*(accept_send(n) for n in range(200)))
        woke = await waiter
    finally:
        await consumer.close()
    assert woke
    assert len({i for ids in accepted for i in ids}) == 400
    if backend == "sqlite":
        assert consumer.writer.stats.groups < 200
    fresh = create_engine(db_url)
    try:
        assert len(await rows(fresh)) == 400
    finally:
        await fresh.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_listener_reconnects_after_losing_its_connection(
    db_url: str, engine: AsyncEngine
) -> None:
    consumer = SqlJobQueue(engine)
    producer_engine = create_engine(db_url)
    producer = SqlJobQueue(producer_engine)
    try:
        await consumer.wait_for_work(0.01)
        await consumer.wait_for_work(0.01)
        async with producer_engine.begin() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LISTENER_APPLICATION_NAME},
            )
        # The loss (or the reconnection after it) wakes the waiter: jobs enqueued while
        # nobody listened are looked for at once, not after a poll interval.
        assert await consumer.wait_for_work(30)
        await consumer.wait_for_work(0.01)
        # A new listening connection is woken by new jobs again.
        waiter = asyncio.create_task(consumer.wait_for_work(30))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await enqueue(producer, job())
        assert await waiter
    finally:
        await consumer.close()
        await producer.close()
        await producer_engine.dispose()


def test_new_jobs_that_could_never_run_are_rejected() -> None:
    with pytest.raises(ValueError):
        job(max_attempts=0)
    with pytest.raises(ValueError):
        job(kind="")
    with pytest.raises(ValueError):
        job(run_at=datetime(2030, 1, 1))
