"""A job given up is handed to its kind's exhausted hook before it is marked failed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.backoff import Backoff
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.queue.worker import Worker
from clarion.store.job_tables import jobs
from clarion.store.types import utcnow
from tests.queue.queue_support import enqueue, job, poll_until, rows
from tests.queue.test_queue_worker import all_settled, run_until


def exhausted(kind: str) -> float:
    """The /metrics counter of given-up jobs of a kind."""
    return REGISTRY.get_sample_value("clarion_jobs_exhausted_total", {"kind": kind}) or 0.0


async def test_the_hook_ends_a_job_that_ran_out_of_attempts(
    queue: SqlJobQueue, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    crashing_id, fine_id = await enqueue(
        queue,
        job(kind="ends", max_attempts=2, send_id="snd_crashing"),
        job(kind="ends", payload={"fine": True}),
    )
    given_up: list[tuple[int, int, str]] = []

    async def handle(j: Job) -> HandlerResult:
        if j.payload.get("fine"):
            return HandlerResult.done()
        raise KeyError("missing")

    async def on_exhausted(j: Job, error: str) -> None:
        # The job is still leased while its work is ended.
        assert (await rows(engine))[j.id]["status"] == "leased"
        given_up.append((j.id, j.attempts, error))

    before = exhausted("ends")
    caplog.set_level(logging.ERROR, logger="clarion.queue.worker")
    worker = Worker(
        queue,
        {"ends": handle},
        on_exhausted={"ends": on_exhausted},
        idle_seconds=0.05,
        backoff=Backoff(base=0.01, cap=0.01),
    )
    await run_until(worker, all_settled(engine))

    assert given_up == [(crashing_id, 2, "gave up after 2 attempts: KeyError: 'missing'")]
    stored = await rows(engine)
    assert stored[crashing_id]["status"] == "failed" and stored[fine_id]["status"] == "done"
    assert exhausted("ends") == before + 1
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"job {crashing_id}" in line.getMessage() and "snd_crashing" in line.getMessage()


async def test_a_job_failed_for_good_is_ended_at_once(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job(kind="refused"))
    given_up: list[str] = []

    async def handle(j: Job) -> HandlerResult:
        return HandlerResult.failed("not deliverable")

    async def on_exhausted(j: Job, error: str) -> None:
        given_up.append(error)

    worker = Worker(queue, {"refused": handle}, on_exhausted={"refused": on_exhausted})
    await run_until(worker, all_settled(engine))
    assert given_up == ["not deliverable"]
    assert (await rows(engine))[job_id]["attempts"] == 1


async def test_a_failing_hook_leaves_the_job_to_be_ended_again(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job(kind="flaky-end", max_attempts=1))
    calls: list[int] = []

    async def handle(j: Job) -> HandlerResult:
        raise RuntimeError("boom")

    async def on_exhausted(j: Job, error: str) -> None:
        calls.append(j.attempts)
        if len(calls) == 1:
            raise ConnectionError("database went away")

    worker = Worker(
        queue,
        {"flaky-end": handle},
        on_exhausted={"flaky-end": on_exhausted},
        idle_seconds=0.05,
        lease_seconds=0.3,
    )

    async def failed() -> bool:
        return bool((await rows(engine))[job_id]["status"] == "failed")

    await run_until(worker, failed)
    # The first hook failed: the job stayed leased, came back when its lease ran out,
    # and was given up again without running its handler a second time.
    assert calls == [1, 2]
    assert (await rows(engine))[job_id]["last_error"] == "gave up after 1 attempts (lease lost)"


async def test_a_worker_that_lost_the_lease_does_not_end_the_job(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    (job_id,) = await enqueue(queue, job(kind="slow", max_attempts=1))
    calls: list[str] = []
    release = asyncio.Event()

    async def handle(j: Job) -> HandlerResult:
        await release.wait()
        return HandlerResult.retry("late")

    async def on_exhausted(j: Job, error: str) -> None:
        calls.append(j.lease_owner)

    first = Worker(
        queue,
        {"slow": handle},
        on_exhausted={"slow": on_exhausted},
        owner="first",
        # Busy with its one job, the first worker claims nothing more: it cannot take the
        # expired job back itself before the second worker does.
        concurrency=1,
        idle_seconds=0.05,
    )
    runner = asyncio.create_task(first.run())

    async def leased() -> bool:
        return bool((await rows(engine))[job_id]["lease_owner"] == "first")

    await poll_until(leased, 10)
    # Another worker takes the job over, as after an expired lease, while the first runs it.
    # The first worker's lease extender may push the expiry forward again in between, so
    # the expiry is moved back until the takeover succeeds.
    claimed: list[int] = []
    for _ in range(20):
        async with engine.begin() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(run_at=utcnow() - timedelta(seconds=1))
            )
        claimed = [j.id for j in await queue.claim("second", 1, 30.0, ["slow"])]
        if claimed:
            break
    assert claimed == [job_id]
    release.set()
    await first.stop(grace=5)
    await runner
    assert calls == [], "only the worker holding the lease ends the job"
    assert (await rows(engine))[job_id]["lease_owner"] == "second"
