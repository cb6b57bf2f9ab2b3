"""SQLite on the event loop thread: lock waits, long reads and commits stay off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store import sqlite_inline
from clarion.store.engine import create_engine

# Counts to this in SQL: long enough to outlast the read budget on any machine.
LONG_COUNT = 3_000_000
LONG_READ = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :top) "
    "SELECT count(*), max(i), thread_of() FROM n"
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    built = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with built.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield built  # type: ignore[misc]
    await built.dispose()


async def _register_thread_of(conn: object) -> None:
    raw = await conn.get_raw_connection()  # type: ignore[attr-defined]
    raw.driver_connection._conn.create_function(
        "thread_of", 0, lambda: threading.get_ident(), deterministic=False
    )


async def test_statements_run_on_the_event_loop_thread(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await _register_thread_of(conn)
        row = (await conn.execute(text("SELECT thread_of()"))).one()
    assert row[0] == threading.get_ident()


async def test_a_long_read_finishes_in_the_helper_thread_with_its_whole_result(
    engine: AsyncEngine,
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.002)
            ticks += 1

    running = asyncio.create_task(ticker())
    try:
        async with engine.connect() as conn:
            await _register_thread_of(conn)
            count, top, thread = (await conn.execute(LONG_READ, {"top": LONG_COUNT})).one()
    finally:
        running.cancel()
    assert (count, top) == (LONG_COUNT, LONG_COUNT)
    # Interrupted on the loop after its budget and run again from the start elsewhere,
    # while the loop went on with other work.
    assert thread != threading.get_ident()
    assert ticks > 0


async def test_a_long_write_is_never_interrupted(engine: AsyncEngine) -> None:
    insert = text(
        "INSERT INTO t (v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 200000) SELECT 'v' || i FROM n"
    )
    async with engine.begin() as conn:
        await conn.execute(insert)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 200_000


async def test_a_write_waits_for_another_writer_then_goes_through(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "inline.db", check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    async def release_soon() -> None:
        await asyncio.sleep(0.3)
        holder.rollback()

    releasing = asyncio.create_task(release_soon())
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('after the wait')"))
    await releasing
    holder.close()
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT v FROM t"))).scalars().all()
    assert found == ["after the wait"]


async def test_a_cancelled_lock_wait_stops_at_once_and_leaves_the_pool_usable(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "inline.db")
    holder.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2), engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('never')"))
    # Well under the 30 s busy timeout: the wait was asleep on the loop, not in SQLite.
    assert loop.time() - started < 5
    holder.rollback()
    holder.close()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('later')"))
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT v FROM t"))).scalars().all()
    assert found == ["later"]


async def test_a_committed_write_is_on_disk_for_another_connection(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('durable')"))
    other = sqlite3.connect(tmp_path / "inline.db")
    assert other.execute("SELECT v FROM t").fetchall() == [("durable",)]
    other.close()


async def test_a_rolled_back_write_leaves_nothing(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('gone')"))
            raise RuntimeError("abandon")
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


def test_only_plain_reads_count_as_interruptible() -> None:
    assert sqlite_inline._reads_only("SELECT 1")
    assert sqlite_inline._reads_only("  select * from t")
    assert not sqlite_inline._reads_only("INSERT INTO t SELECT 1")
    assert not sqlite_inline._reads_only("WITH x AS (SELECT 1) DELETE FROM t")
    assert not sqlite_inline._reads_only("SELECT 1; DELETE FROM t")
    assert not sqlite_inline._reads_only("UPDATE t SET v = 1 RETURNING id")
    assert not sqlite_inline._reads_only("PRAGMA journal_mode=WAL")
