"""The SQL job queue on SQLite and PostgreSQL: enqueue, claim, leases, settlements."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.sql import SqlJobQueue
from clarion.store.engine import create_engine
from clarion.store.types import utcnow
from tests.queue.queue_support import enqueue, job, rows


async def test_enqueue_in_rolled_back_transaction_leaves_no_job(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        await conn.begin()
        ids = await queue.enqueue(conn, [job(), job()])
        assert len(ids) == 2
        await conn.rollback()
    assert await rows(engine) == {}
    assert await queue.claim("w", 10, 30) == []


async def test_enqueue_commits_with_the_callers_other_writes(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        ids = await queue.enqueue(conn, [job(payload={"i": i}, send_id="s1") for i in range(3)])
    stored = await rows(engine)
    assert sorted(stored) == sorted(ids)
    assert [stored[i]["payload"] for i in ids] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert {r["status"] for r in stored.values()} == {"queued"}


async def test_claim_leases_jobs_to_the_owner(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    ids = await enqueue(queue, job(payload={"to": "a"}), job(payload={"to": "b"}))
    claimed = await queue.claim("worker-1", 10, 30)
    assert sorted(j.id for j in claimed) == ids
    first = claimed[0]
    assert first.lease_owner == "worker-1"
    assert first.attempts == 1
    assert first.lease_expires_at > utcnow() + timedelta(seconds=20)
    stored = await rows(engine)
    assert {r["status"] for r in stored.values()} == {"leased"}
    assert await queue.claim("worker-2", 10, 30) == []


async def test_claim_honours_limit_kinds_and_priority(queue: SqlJobQueue) -> None:
    low, high, other = await enqueue(
        queue, job(priority=0), job(priority=5), job(kind="other", priority=9)
    )
    claimed = await queue.claim("w", 1, 30, kinds=["test"])
    assert [j.id for j in claimed] == [high]
    claimed = await queue.claim("w", 5, 30, kinds=["test"])
    assert [j.id for j in claimed] == [low]
    claimed = await queue.claim("w", 5, 30)
    assert [j.id for j in claimed] == [other]


async def test_a_claim_takes_one_job_at_most_of_the_single_kinds(queue: SqlJobQueue) -> None:
    plans = await enqueue(queue, *[job(kind="plan") for _ in range(3)])
    small = await enqueue(queue, *[job(kind="small") for _ in range(3)])
    claimed = await queue.claim("w", 10, 30, ["plan", "small"], single_kinds=["plan"])
    assert sorted(j.id for j in claimed) == sorted([plans[0], *small])
    # Another worker finds the next one; the limit counts both kinds together.
    claimed = await queue.claim("other", 1, 30, ["plan", "small"], single_kinds=["plan"])
    assert [j.id for j in claimed] == [plans[1]]
    claimed = await queue.claim("w", 10, 30, ["plan", "small"])
    assert [j.id for j in claimed] == [plans[2]]


async def test_concurrent_claimers_never_share_a_job(db_url: str, queue: SqlJobQueue) -> None:
    total = 600
    await enqueue(queue, *[job(payload={"i": i}) for i in range(total)])
    # Each claimer has its own engine and queue, like separate processes would.
    engines = [create_engine(db_url) for _ in range(3)]
    queues = [SqlJobQueue(e) for e in engines]

    async def drain(q: SqlJobQueue, owner: str) -> list[int]:
        got: list[int] = []
        while batch := await q.claim(owner, 25, 30):
            got.extend(j.id for j in batch)
        return got

    try:
        results = await asyncio.gather(*(drain(q, f"claimer-{n}") for n, q in enumerate(queues)))
    finally:
        for q in queues:
            await q.close()
        for e in engines:
            await e.dispose()
    everything = [i for got in results for i in got]
    assert len(everything) == total
    assert len(set(everything)) == total


async def test_expired_lease_is_claimable_again(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    (job_id,) = await enqueue(queue, job())
    (first,) = await queue.claim("dead-worker", 1, 0.2)
    assert await queue.claim("other", 1, 30) == []
    await asyncio.sleep(0.3)
    (second,) = await queue.claim("other", 1, 30)
    assert second.id == job_id
    assert second.lease_owner == "other"
    assert second.attempts == first.attempts + 1


async def test_stale_owner_cannot_settle_a_job_taken_over(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job())
    (stale,) = await queue.claim("slow", 1, 0.1)
    await asyncio.sleep(0.2)
    (fresh,) = await queue.claim("fast", 1, 30)
    assert await queue.complete([stale]) == set()
    assert not await queue.fail(stale, "too late")
    assert not await queue.retry(stale, utcnow(), "too late")
    assert (await rows(engine))[job_id]["status"] == "leased"
    assert await queue.complete([fresh]) == {job_id}
    stored = (await rows(engine))[job_id]
    assert stored["status"] == "done"
    assert stored["last_error"] is None


async def test_same_owner_reclaiming_fences_its_older_lease(queue: SqlJobQueue) -> None:
    (job_id,) = await enqueue(queue, job())
    (old,) = await queue.claim("w", 1, 0.1)
    await asyncio.sleep(0.2)
    (new,) = await queue.claim("w", 1, 30)
    assert await queue.complete([old]) == set()
    assert await queue.complete([new]) == {job_id}


async def test_retry_in_the_future_is_not_claimed_before_its_time(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job())
    (leased,) = await queue.claim("w", 1, 30)
    assert await queue.retry(leased, utcnow() + timedelta(seconds=0.4), "provider 503")
    stored = (await rows(engine))[job_id]
    assert stored["status"] == "queued"
    assert stored["lease_owner"] is None
    assert stored["last_error"] == "provider 503"
    assert await queue.claim("w", 1, 30) == []
    await asyncio.sleep(0.5)
    (again,) = await queue.claim("w", 1, 30)
    assert again.id == job_id
    assert again.attempts == 2
    assert again.last_error == "provider 503"


async def test_job_scheduled_later_waits(queue: SqlJobQueue) -> None:
    await enqueue(queue, job(run_at=utcnow() + timedelta(hours=1)))
    assert await queue.claim("w", 1, 30) == []


async def test_fail_records_the_error(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    (job_id,) = await enqueue(queue, job())
    (leased,) = await queue.claim("w", 1, 30)
    assert await queue.fail(leased, "BadDeviceToken")
    stored = (await rows(engine))[job_id]
    assert (stored["status"], stored["last_error"]) == ("failed", "BadDeviceToken")
    assert await queue.claim("w", 1, 30) == []


async def test_release_hands_jobs_back_without_counting_the_attempt(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job())
    (leased,) = await queue.claim("w", 1, 30)
    assert await queue.release([leased]) == {job_id}
    (again,) = await queue.claim("w2", 1, 30)
    assert again.attempts == 1


async def test_extend_leases_keeps_jobs_from_other_claimers(queue: SqlJobQueue) -> None:
    ids = await enqueue(queue, job(), job())
    leased = await queue.claim("w", 2, 0.3)
    assert await queue.extend_leases("intruder", ids, 30) == set()
    assert await queue.extend_leases("w", [leased[0].id], 30) == {leased[0].id}
    await asyncio.sleep(0.4)
    taken = await queue.claim("other", 5, 30)
    assert [j.id for j in taken] == [leased[1].id]


async def test_cancel_send_and_counts(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    await enqueue(queue, *[job(send_id="s1") for _ in range(4)], job(send_id="s2"))
    first, second = await queue.claim("w", 2, 30)
    await queue.complete([first])
    assert await queue.counts("s1") == {
        "queued": 2,
        "leased": 1,
        "done": 1,
        "failed": 0,
        "cancelled": 0,
    }
    assert await queue.cancel_send("s1") == 3
    counts = await queue.counts("s1")
    assert (counts["cancelled"], counts["done"], counts["queued"]) == (3, 1, 0)
    # The job in flight at cancel time may still report that it went out ...
    assert await queue.complete([second]) == {second.id}
    # ... but nothing of the cancelled send is claimed again.
    remaining = await queue.claim("w", 10, 30)
    assert [j.send_id for j in remaining] == ["s2"]
    assert (await queue.counts("s1"))["done"] == 2
    assert await queue.counts("unknown") == dict.fromkeys(
        ["queued", "leased", "done", "failed", "cancelled"], 0
    )
    everything = await queue.counts()
    assert (everything["done"], everything["cancelled"], everything["leased"]) == (2, 2, 1)


async def test_cancelled_in_flight_job_is_not_requeued_by_a_retry(queue: SqlJobQueue) -> None:
    await enqueue(queue, job(send_id="s1"))
    (leased,) = await queue.claim("w", 1, 30)
    await queue.cancel_send("s1")
    assert not await queue.retry(leased, utcnow(), "503")
    assert (await queue.counts("s1"))["cancelled"] == 1


async def test_purge_deletes_only_old_finished_jobs(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    done_id, failed_id, waiting_id, leased_id = await enqueue(queue, job(), job(), job(), job())
    leased = {j.id: j for j in await queue.claim("w", 2, 30)}
    await queue.complete([leased[done_id]])
    await queue.fail(leased[failed_id], "gone")
    await queue.claim("w", 1, 30)
    assert await queue.purge(utcnow() - timedelta(hours=1)) == 0
    assert await queue.purge(utcnow() + timedelta(seconds=1), limit=1) == 1
    assert await queue.purge(utcnow() + timedelta(seconds=1)) == 1
    assert sorted(await rows(engine)) == [waiting_id, leased_id]
