"""Jobs created leased to the local worker: run at once after the commit, or taken over if not."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.queue.worker import Worker
from tests.queue.queue_support import job, poll_until, rows


async def test_handed_over_jobs_run_without_a_claim(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    ran: list[int] = []

    async def handle(j: Job) -> HandlerResult:
        ran.append(j.id)
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, owner="here", idle_seconds=30.0)
    running = asyncio.create_task(worker.run())
    await poll_until(lambda: _true(worker.has_room("test")), 5)

    async def create(conn: AsyncConnection) -> list[Job]:
        return await queue.enqueue_leased(conn, [job(), job()], worker)

    created = await queue.run_in_transaction(create)
    # Leased to this worker from the start: no other worker can claim them.
    assert await queue.claim("other", 10, 30.0) == []
    worker.adopt(created)

    async def all_done() -> bool:
        return all(r["status"] == "done" for r in (await rows(engine)).values())

    await poll_until(all_done, 10)
    await worker.stop(grace=5)
    await running
    assert sorted(ran) == sorted(j.id for j in created)
    assert worker.stats.claimed == 2
    assert all(
        r["attempts"] == 1 and r["lease_owner"] == "here" for r in (await rows(engine)).values()
    )


async def test_jobs_never_handed_over_are_taken_over_after_their_lease(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    class Gone:
        """A worker that died between the commit and the hand-over."""

        owner = "gone"
        lease_seconds = 0.3

        def has_room(self, kind: str) -> bool:
            return True

        def adopt(self, jobs: object) -> None:
            raise AssertionError("never reached")

    async def create(conn: AsyncConnection) -> list[Job]:
        return await queue.enqueue_leased(conn, [job()], Gone())

    (created,) = await queue.run_in_transaction(create)
    assert await queue.claim("other", 10, 30.0) == []
    await asyncio.sleep(0.4)
    (taken,) = await queue.claim("other", 10, 30.0)
    assert taken.id == created.id and taken.attempts == 2 and taken.lease_owner == "other"
    assert await queue.complete([taken]) == {created.id}
    assert (await rows(engine))[created.id]["status"] == "done"


async def test_a_stopping_worker_has_no_room(queue: SqlJobQueue) -> None:
    async def handle(j: Job) -> HandlerResult:
        return HandlerResult.done()

    worker = Worker(queue, {"test": handle}, owner="here", idle_seconds=30.0)
    assert not worker.has_room("test"), "a worker that is not running takes nothing"
    running = asyncio.create_task(worker.run())
    await poll_until(lambda: _true(worker.has_room("test")), 5)
    assert not worker.has_room("other-kind")
    await worker.stop(grace=1)
    await running
    assert not worker.has_room("test")


async def _true(value: bool) -> bool:
    return value


async def test_jobs_handed_over_in_one_turn_run_in_one_batch_call(
    queue: SqlJobQueue, engine: AsyncEngine
) -> None:
    calls: list[list[int]] = []

    async def single(j: Job) -> HandlerResult:
        raise AssertionError("handed-over jobs of this kind run in batches")

    async def together(batch: Sequence[Job]) -> Mapping[int, HandlerResult | bool]:
        calls.append([j.id for j in batch])
        first, second, _unanswered = batch

        async def settle(conn: AsyncConnection) -> set[int]:
            return await queue.complete_in(conn, [first])

        # The first is settled with the handler's own work; the second is left to the
        # worker; the third has no answer, so it is retried.
        held = await queue.run_in_transaction(settle)
        return {first.id: first.id in held, second.id: HandlerResult.done()}

    worker = Worker(
        queue,
        {"test": single},
        batch_handlers={"test": together},
        owner="here",
        idle_seconds=30.0,
    )
    running = asyncio.create_task(worker.run())
    await poll_until(lambda: _true(worker.has_room("test")), 5)

    async def create(conn: AsyncConnection) -> list[Job]:
        return await queue.enqueue_leased(conn, [job(), job(), job()], worker)

    created = await queue.run_in_transaction(create)
    # Handed over by three requests in the same turn of the loop.
    for one in created:
        worker.adopt([one])

    async def settled() -> bool:
        return all(r["status"] != "leased" for r in (await rows(engine)).values())

    await poll_until(settled, 10)
    await worker.stop(grace=5)
    await running
    assert calls == [[j.id for j in created]]
    found = await rows(engine)
    assert [found[j.id]["status"] for j in created] == ["done", "done", "queued"]
    assert worker.stats.done == 2 and worker.stats.retried == 1
