"""A worker process killed with SIGKILL mid-work loses no job; the next worker finishes them."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.sql import SqlJobQueue
from tests.queue.queue_support import enqueue, job, poll_until, rows

SCRIPT = Path(__file__).with_name("worker_process.py")
TOTAL_JOBS = 2000
CONCURRENCY = 50


def start_worker(
    db_url: str, log: Path, owner: str, lease_seconds: float, work_seconds: float = 0.005
) -> subprocess.Popen[bytes]:
    """Start a worker in a separate process."""
    arguments = [db_url, str(log), owner, str(lease_seconds), str(CONCURRENCY), str(work_seconds)]
    return subprocess.Popen([sys.executable, str(SCRIPT), *arguments])


def logged_ids(log: Path) -> list[int]:
    """Job ids the handlers have written so far."""
    if not log.exists():
        return []
    return [int(line) for line in log.read_text().split()]


async def test_kill_9_mid_work_loses_nothing(
    db_url: str, queue: SqlJobQueue, engine: AsyncEngine, tmp_path: Path
) -> None:
    # One job a third of the way in hangs in the first worker: once its id is logged,
    # the worker is certainly mid-work, with that job (and others) in its hands.
    hanging = TOTAL_JOBS // 3
    payloads = [{"n": i, "hang_in": "doomed" if i == hanging else None} for i in range(TOTAL_JOBS)]
    ids = await enqueue(queue, *[job("crash.test", payload=p, send_id="crash") for p in payloads])
    log = tmp_path / "delivered.log"
    first = start_worker(db_url, log, "doomed", lease_seconds=2)
    try:

        async def midway() -> bool:
            return ids[hanging] in logged_ids(log)

        await poll_until(midway, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)

    at_kill = await rows(engine)
    held_by_dead = {i for i, r in at_kill.items() if r["status"] == "leased"}
    assert {r["lease_owner"] for i, r in at_kill.items() if i in held_by_dead} == {"doomed"}
    # Killed mid-way: some jobs done, some still in its hands, many untouched.
    assert ids[hanging] in held_by_dead
    assert len(held_by_dead) <= CONCURRENCY
    assert sum(r["status"] == "done" for r in at_kill.values()) < TOTAL_JOBS

    second = start_worker(db_url, log, "heir", lease_seconds=30)
    try:

        async def all_done() -> bool:
            return (await queue.counts("crash"))["done"] == TOTAL_JOBS

        await poll_until(all_done, 90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0

    final = await rows(engine)
    assert sorted(final) == ids
    assert all(r["status"] == "done" for r in final.values())
    delivered = collections.Counter(logged_ids(log))
    assert set(delivered) == set(ids)
    twice = {i for i, n in delivered.items() if n > 1}
    # Only jobs in the dead worker's hands may have gone out twice, and at most twice.
    assert twice <= held_by_dead
    assert max(delivered.values()) <= 2
    assert delivered[ids[hanging]] == 2
    redelivered = {i for i in held_by_dead if final[i]["attempts"] == 2}
    assert redelivered == held_by_dead


async def test_two_worker_processes_share_without_overlap(
    db_url: str, queue: SqlJobQueue, engine: AsyncEngine, tmp_path: Path
) -> None:
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    # Slow enough handlers that neither worker can drain the queue alone before
    # the other joins: both must then compete for the same rows.
    workers = [
        start_worker(db_url, log, f"w{n}", lease_seconds=30, work_seconds=0.02)
        for n, log in enumerate(logs)
    ]
    try:

        async def both_started() -> bool:
            return all(log.exists() for log in logs)

        await poll_until(both_started, 30)
        ids = await enqueue(
            queue, *[job("crash.test", payload={"n": i}, send_id="pair") for i in range(1000)]
        )

        async def all_done() -> bool:
            return (await queue.counts("pair"))["done"] == len(ids)

        await poll_until(all_done, 90)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in workers]
    assert codes == [0, 0]
    per_worker = [logged_ids(log) for log in logs]
    assert all(per_worker), "both workers should have taken part"
    delivered = collections.Counter(per_worker[0] + per_worker[1])
    assert sorted(delivered) == ids
    assert set(delivered.values()) == {1}
    final = await rows(engine)
    assert {r["lease_owner"] for r in final.values()} == {"w0", "w1"}
    assert {r["attempts"] for r in final.values()} == {1}
