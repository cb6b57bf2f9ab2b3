"""The worker loop: outcomes, retries with backoff, max attempts, leases, graceful stop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.backoff import Backoff
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.queue.worker import Handler, Worker
from clarion.store.job_tables import jobs
from clarion.store.metadata import metadata
from tests.queue.queue_support import enqueue, job, poll_until, rows


async def run_until(worker: Worker, done: Callable[[], Awaitable[bool]], limit: float = 20) -> None:
    """Run a worker until `done()` holds (or `limit` seconds pass), then stop it."""
    runner = asyncio.create_task(worker.run())
    try:
        await poll_until(done, limit)
    finally:
        await worker.stop(grace=1)
        await runner


def all_settled(engine: AsyncEngine) -> Callable[[], Awaitable[bool]]:
    """A condition: no job is queued or leased any more."""

    async def check() -> bool:
        return all(r["status"] not in ("queued", "leased") for r in (await rows(engine)).values())

    return check


async def test_worker_runs_every_job_once(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    ids = await enqueue(queue, *[job(payload={"i": i}) for i in range(120)])
    seen: list[int] = []

    async def handle(j: Job) -> HandlerResult:
        seen.append(j.payload["i"])
        await asyncio.sleep(0.001)
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, concurrency=16, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    assert sorted(seen) == list(range(120))
    stored = await rows(engine)
    assert all(stored[i]["status"] == "done" and stored[i]["attempts"] == 1 for i in ids)
    assert worker.stats.done == 120


async def test_worker_only_claims_kinds_it_handles(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    mine, theirs = await enqueue(queue, job(kind="mine"), job(kind="theirs"))

    async def handle(j: Job) -> HandlerResult:
        return HandlerResult.done()

    worker = Worker(queue, {"mine": handle}, idle_seconds=0.05)

    async def mine_done() -> bool:
        return (await rows(engine))[mine]["status"] == "done"

    await run_until(worker, mine_done)
    assert (await rows(engine))[theirs]["status"] == "queued"


async def test_retry_after_then_success(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    (job_id,) = await enqueue(queue, job())
    calls: list[int] = []

    async def flaky(j: Job) -> HandlerResult:
        calls.append(j.attempts)
        if j.attempts < 3:
            return HandlerResult.retry("429 TooManyRequests", after=0.05)
        return HandlerResult.done()

    worker = Worker(queue, {"test": flaky}, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    assert calls == [1, 2, 3]
    stored = (await rows(engine))[job_id]
    assert (stored["status"], stored["attempts"]) == ("done", 3)
    assert stored["last_error"] == "429 TooManyRequests"


async def test_max_attempts_ends_in_failed(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    (job_id,) = await enqueue(queue, job(max_attempts=3))
    calls = 0

    async def always_busy(j: Job) -> HandlerResult:
        nonlocal calls
        calls += 1
        return HandlerResult.retry("503 Unavailable")

    # A tiny backoff so the test does not wait; the policy itself is tested below.
    worker = Worker(
        queue, {"test": always_busy}, idle_seconds=0.05, backoff=Backoff(base=0.01, cap=0.02)
    )
    await run_until(worker, all_settled(engine))
    assert calls == 3
    stored = (await rows(engine))[job_id]
    assert stored["status"] == "failed"
    assert stored["last_error"] == "gave up after 3 attempts: 503 Unavailable"


async def test_handler_exception_is_retried_then_failed(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job(max_attempts=2))

    async def crashing(j: Job) -> HandlerResult:
        raise KeyError("token")

    worker = Worker(
        queue, {"test": crashing}, idle_seconds=0.05, backoff=Backoff(base=0.01, cap=0.01)
    )
    await run_until(worker, all_settled(engine))
    stored = (await rows(engine))[job_id]
    assert stored["status"] == "failed"
    assert stored["attempts"] == 2
    assert "KeyError" in stored["last_error"]


async def test_permanent_failure_is_not_retried(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    (job_id,) = await enqueue(queue, job())

    async def unregistered(j: Job) -> HandlerResult:
        return HandlerResult.failed("410 Unregistered")

    worker = Worker(queue, {"test": unregistered}, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    stored = (await rows(engine))[job_id]
    assert (stored["status"], stored["attempts"], stored["last_error"]) == (
        "failed",
        1,
        "410 Unregistered",
    )


async def test_job_whose_workers_kept_dying_is_failed_without_running(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job(max_attempts=1))
    await queue.claim("died", 1, 0.05)
    await asyncio.sleep(0.1)
    ran = False

    async def handle(j: Job) -> HandlerResult:
        nonlocal ran
        ran = True
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    assert not ran
    stored = (await rows(engine))[job_id]
    assert stored["status"] == "failed"
    assert "lease lost" in stored["last_error"]


async def test_long_job_keeps_its_lease(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    (job_id,) = await enqueue(queue, job())
    stolen: list[Job] = []

    async def slow(j: Job) -> HandlerResult:
        # Outlive the lease several times while a rival keeps trying to claim.
        for _ in range(8):
            await asyncio.sleep(0.1)
            stolen.extend(await queue.claim("rival", 1, 30))
        return HandlerResult.done()

    worker = Worker(queue, {"test": slow}, lease_seconds=0.3, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    assert stolen == []
    stored = (await rows(engine))[job_id]
    assert (stored["status"], stored["attempts"]) == ("done", 1)


async def test_stop_releases_jobs_that_do_not_finish_in_the_grace(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    ids = await enqueue(queue, job(), job())
    started = asyncio.Event()
    finish_quick = asyncio.Event()

    async def handle(j: Job) -> HandlerResult:
        if j.id == ids[0]:
            finish_quick.set()
            return HandlerResult.done()
        started.set()
        await asyncio.sleep(3600)
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, concurrency=2, idle_seconds=0.05)
    runner = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await started.wait()
        await finish_quick.wait()
    await worker.stop(grace=0.1)
    await runner
    stored = await rows(engine)
    assert stored[ids[0]]["status"] == "done"
    assert stored[ids[1]]["status"] == "queued"
    assert stored[ids[1]]["attempts"] == 0
    assert stored[ids[1]]["lease_owner"] is None
    assert worker.stats.released == 1


async def test_stop_waits_for_running_jobs_within_the_grace(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job())
    started = asyncio.Event()

    async def handle(j: Job) -> HandlerResult:
        started.set()
        await asyncio.sleep(0.2)
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, idle_seconds=0.05)
    runner = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await started.wait()
    await worker.stop(grace=30)
    await runner
    assert (await rows(engine))[job_id]["status"] == "done"


async def test_worker_respects_concurrency(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    await enqueue(queue, *[job() for _ in range(40)])
    running = 0
    peak = 0

    async def handle(j: Job) -> HandlerResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, concurrency=4, batch=10, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    assert peak == 4


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = Backoff(base=2.0, cap=60.0)
    assert [policy.ceiling(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [2, 4, 8, 16, 32, 60, 60]
    assert policy.ceiling(10_000) == 60.0


def test_backoff_has_full_jitter() -> None:
    policy = Backoff(base=1.0, cap=300.0)
    rng = random.Random(7)
    delays = [policy.delay(5, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 16.0 for d in delays)
    # Full jitter spreads over the whole window, including its low end.
    assert min(delays) < 1.0
    assert max(delays) > 15.0


def test_worker_rejects_nonsense_settings(queue: SqlJobQueue) -> None:
    handlers: dict[str, Handler] = {}
    with pytest.raises(ValueError):
        Worker(queue, handlers, concurrency=0)
    with pytest.raises(ValueError):
        Worker(queue, handlers, lease_seconds=0)


async def test_cancelled_worker_hands_its_jobs_back(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job())
    started = asyncio.Event()

    async def hang(j: Job) -> HandlerResult:
        started.set()
        await asyncio.sleep(3600)
        return HandlerResult.done()

    worker = Worker(queue, {"test": hang}, idle_seconds=0.05)
    runner = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await started.wait()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    stored = (await rows(engine))[job_id]
    assert (stored["status"], stored["attempts"]) == ("queued", 0)


async def test_workers_sharing_one_queue_split_the_work(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    await enqueue(queue, *[job(payload={"i": i}) for i in range(200)])
    ran_by: dict[str, list[int]] = {"a": [], "b": []}

    def handler_for(name: str) -> Handler:
        async def handle(j: Job) -> HandlerResult:
            ran_by[name].append(j.payload["i"])
            await asyncio.sleep(0.005)
            return HandlerResult.done()

        return handle

    workers = [
        Worker(queue, {"test": handler_for(name)}, owner=name, concurrency=8, idle_seconds=0.05)
        for name in ran_by
    ]
    runners = [asyncio.create_task(w.run()) for w in workers]
    try:
        await poll_until(all_settled(engine), 30)
    finally:
        for w in workers:
            await w.stop(grace=1)
        await asyncio.gather(*runners)
    assert sorted(ran_by["a"] + ran_by["b"]) == list(range(200))
    assert ran_by["a"] and ran_by["b"]


async def test_worker_exports_outcome_metrics(queue: SqlJobQueue, engine: AsyncEngine) -> None:
    await enqueue(queue, job(kind="metered"), job(kind="metered", max_attempts=1))

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_done = sample("clarion_job_outcomes_total", kind="metered", outcome="done")
    before_failed = sample("clarion_job_outcomes_total", kind="metered", outcome="failed")
    before_claimed = sample("clarion_jobs_claimed_total", kind="metered")

    async def handle(j: Job) -> HandlerResult:
        if j.max_attempts == 1:
            return HandlerResult.retry("503")
        return HandlerResult.done()

    worker = Worker(queue, {"metered": handle}, idle_seconds=0.05)
    await run_until(worker, all_settled(engine))
    assert sample("clarion_job_outcomes_total", kind="metered", outcome="done") == before_done + 1
    # A retry asked for on the last attempt is recorded as the failure it became.
    assert (
        sample("clarion_job_outcomes_total", kind="metered", outcome="failed") == before_failed + 1
    )
    assert sample("clarion_jobs_claimed_total", kind="metered") == before_claimed + 2


async def test_worker_survives_a_database_that_is_not_ready(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: metadata.drop_all(sync, tables=[jobs]))

    async def handle(j: Job) -> HandlerResult:
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, idle_seconds=0.05)
    runner = asyncio.create_task(worker.run())
    try:

        async def claims_failed() -> bool:
            return worker.stats.claim_errors >= 2

        await poll_until(claims_failed, 20)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: metadata.create_all(sync, tables=[jobs]))
        (job_id,) = await enqueue(queue, job())

        async def recovered() -> bool:
            return worker.stats.done == 1

        await poll_until(recovered, 20)
    finally:
        await worker.stop(grace=1)
        await runner
    assert (await rows(engine))[job_id]["status"] == "done"
