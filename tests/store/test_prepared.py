"""Prepared statements write and read exactly what SQLAlchemy writes and reads."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.models import NewJob
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from clarion.store.migrate import upgrade
from clarion.store.prepared import savepoint, sqlite_handle
from clarion.store.projects import create_project
from clarion.store.send_tables import sends


@pytest.fixture
async def engine(own_database_url: str) -> AsyncIterator[AsyncEngine]:
    built = create_engine(own_database_url)
    await upgrade(built)
    async with built.begin() as conn:
        await create_project(conn, "p1", "P1")
    yield built
    await built.dispose()


REQUEST = {"recipients": {"tokens": ["a"]}, "content": {"title": "ünïcode ✓", "n": [1, 2.5]}}


async def test_a_prepared_insert_reads_back_through_sqlalchemy(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # The statement really runs at driver level on SQLite.
            assert await sqlite_handle(conn) is not None
        await send_store.insert_send(conn, "snd_1", "p1", "transactional", REQUEST, "h", "k1")
    async with engine.connect() as conn:
        row = (await conn.execute(select(sends).where(sends.c.id == "snd_1"))).mappings().one()
        prepared = await send_store.get_send(conn, "snd_1")
    assert row["request"] == REQUEST
    assert row["created_at"].tzinfo is not None
    assert abs(row["created_at"] - datetime.now(UTC)).total_seconds() < 60
    # The prepared read gives the same values, with the same types.
    assert prepared == dict(row)
    assert {k: type(v) for k, v in prepared.items()} == {k: type(v) for k, v in row.items()}


async def test_a_duplicate_key_raises_sqlalchemys_integrity_error(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await send_store.insert_send(conn, "snd_1", "p1", "transactional", REQUEST, "h", "same")
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await send_store.insert_send(conn, "snd_2", "p1", "transactional", REQUEST, "h", "same")
    async with engine.connect() as conn:
        assert await send_store.get_send(conn, "snd_2") is None


async def test_a_prepared_write_outside_an_explicit_transaction_is_committed(
    engine: AsyncEngine,
) -> None:
    # engine.connect() + commit(): the driver-level insert must not be left to the
    # pool's rollback.
    async with engine.connect() as conn:
        await send_store.insert_send(conn, "snd_3", "p1", "transactional", REQUEST, "h", None)
        await conn.commit()
    async with engine.connect() as conn:
        assert (await send_store.get_send(conn, "snd_3")) is not None


async def test_status_moves_only_from_the_allowed_statuses(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await send_store.insert_send(conn, "snd_4", "p1", "transactional", REQUEST, "h", None)
        moved = await send_store.set_status(
            conn, "snd_4", "delivering", only_from=("accepted",), targeted=3
        )
        again = await send_store.set_status(conn, "snd_4", "delivering", only_from=("accepted",))
        done = await send_store.done_when_settled(conn, "snd_4")
    async with engine.connect() as conn:
        found = await send_store.get_send(conn, "snd_4")
    assert (moved, again, done) == (True, False, True)
    assert found is not None and found["status"] == "done" and found["targeted"] == 3
    assert found["completed_at"] is not None


async def test_a_failed_savepoint_keeps_the_rest_of_the_transaction(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await send_store.insert_send(conn, "snd_5", "p1", "transactional", REQUEST, "h", None)
        with pytest.raises(RuntimeError):
            async with savepoint(conn):
                await send_store.insert_send(
                    conn, "snd_6", "p1", "transactional", REQUEST, "h", None
                )
                raise RuntimeError("planning failed")
        async with savepoint(conn):
            await send_store.insert_send(conn, "snd_7", "p1", "transactional", REQUEST, "h", None)
    async with engine.connect() as conn:
        kept = [await send_store.get_send(conn, i) for i in ("snd_5", "snd_6", "snd_7")]
    assert [k is not None for k in kept] == [True, False, True]


async def test_a_prepared_write_waits_for_another_writer(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await send_store.insert_send(conn, "snd_8", "p1", "transactional", REQUEST, "h", None)
    if engine.dialect.name != "sqlite":
        return
    holder = sqlite3.connect(engine.url.database or "", check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    async def release_soon() -> None:
        await asyncio.sleep(0.3)
        holder.rollback()

    releasing = asyncio.create_task(release_soon())
    # Outside the queue's writer: the lock is another connection's for a while.
    async with engine.begin() as conn:
        moved = await send_store.set_status(conn, "snd_8", "cancelled", only_from=("accepted",))
    await releasing
    holder.close()
    assert moved


async def test_jobs_inserted_together_come_back_in_their_order(engine: AsyncEngine) -> None:
    queue = SqlJobQueue(engine)
    # More rows than one multi-row statement takes, so the chunks' ids must follow too.
    new_jobs = [NewJob(kind="k", payload={"n": n}) for n in range(450)]
    try:
        async with engine.begin() as conn:
            ids = await queue.enqueue(conn, new_jobs)
            stored = {
                row.id: row.payload["n"]
                for row in await conn.execute(select(jobs.c.id, jobs.c.payload))
            }
    finally:
        await queue.close()
    assert len(set(ids)) == len(new_jobs)
    assert [stored[job_id] for job_id in ids] == list(range(len(new_jobs)))
