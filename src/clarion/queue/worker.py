"""The generic worker loop: claim due jobs, run their handlers concurrently, record outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from clarion.queue.backoff import Backoff
from clarion.queue.metrics import JOB_OUTCOMES, JOB_SECONDS, JOBS_CLAIMED, JOBS_EXHAUSTED
from clarion.queue.models import DEFAULT_LEASE_SECONDS, HandlerResult, Job
from clarion.queue.protocol import JobQueue
from clarion.store.text import describe, storable
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

Handler = Callable[[Job], Awaitable[HandlerResult]]
#: Runs jobs handed over together; per job id, its result, or whether the lease was still
#: held when the handler itself settled the job `done` in the transaction of its work
#: (True: held). A job missing from the answer is retried.
BatchHandler = Callable[[Sequence[Job]], Awaitable[Mapping[int, HandlerResult | bool]]]
#: Called once a job will not run again, with the reason: ends what the job was doing.
ExhaustedHook = Callable[[Job, str], Awaitable[None]]

#: Extra claims of a given-up job while its exhausted hook keeps failing (database down).
EXHAUSTED_HOOK_TRIES = 3
#: Jobs handed over at creation may fill this many times `concurrency` slots: they are
#: small (a transactional send each) and mostly wait on the provider; the claim loop
#: takes nothing more until the worker is back under `concurrency`. A burst of 100
#: concurrent one-token sends must not spill over into the claim path.
HANDOFF_FACTOR = 16
#: Most handed-over jobs one batch handler call takes.
HANDED_BATCH = 256
#: Longest job error kept in the queue.
MAX_ERROR_CHARS = 2000


def default_owner() -> str:
    """A lease owner name unique to this worker: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class WorkerStats:
    """What a worker has done so far."""

    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    lost_leases: int = 0
    claim_errors: int = 0


class Worker:
    """Runs handlers for claimed jobs, at most `concurrency` at a time.

    Leases of running jobs are extended every third of `lease_seconds`, so only a
    worker that stopped (crashed, hung event loop, lost database) loses them.

    A job that will not run again (attempts exhausted, or failed for good) is handed to
    the `on_exhausted` hook of its kind before it is marked failed, so that what it was
    doing ends too. The hook must be idempotent: when it raises, the job stays leased and
    is given up again when its lease runs out.

    Jobs handed over with `adopt` whose kind has a batch handler are gathered for one
    turn of the event loop and run together, so concurrent requests' jobs share one
    handler call (one provider call, one transaction) instead of one task each.
    """

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        on_exhausted: Mapping[str, ExhaustedHook] | None = None,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        owner: str | None = None,
        concurrency: int = 32,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        batch: int | None = None,
        idle_seconds: float = 1.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        single_kinds: Sequence[str] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.queue = queue
        self.handlers = dict(handlers)
        self.on_exhausted = dict(on_exhausted or {})
        self.batch_handlers = dict(batch_handlers or {})
        self.owner = owner or default_owner()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.batch = batch or concurrency
        self.idle_seconds = idle_seconds
        #: Kinds taken one job per claim: long jobs, which other workers may share.
        self.single_kinds = tuple(single_kinds)
        self.backoff = backoff or Backoff()
        self.stats = WorkerStats()
        self._rng = rng or random.Random()
        self._inflight: dict[int, tuple[Job, asyncio.Task[None]]] = {}
        # Handed-over jobs waiting for the end of this loop turn, by kind.
        self._handed: dict[str, list[Job]] = {}
        self._handed_count = 0
        self._claimed_counters: dict[str, Any] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._grace = 10.0
        self._running = False

    @property
    def inflight(self) -> list[Job]:
        """Jobs whose handlers are running now."""
        return [job for job, _ in self._inflight.values()]

    def has_room(self, kind: str) -> bool:
        """Whether a job of `kind` handed over now would start at once (see `adopt`)."""
        return (
            self._running
            and not self._stopping.is_set()
            and kind in self.handlers
            and len(self._inflight) + self._handed_count < self.concurrency * HANDOFF_FACTOR
        )

    def adopt(self, jobs: Sequence[Job]) -> None:
        """Run jobs leased to this worker when they were created, as if just claimed."""
        if not self._running or self._stopping.is_set():
            # Stopping: the jobs wait for their lease to run out, then any worker claims them.
            return
        for job in jobs:
            if job.lease_owner != self.owner or job.id in self._inflight:
                continue
            self.stats.claimed += 1
            self._claimed_counter(job.kind).inc()
            if job.kind in self.batch_handlers and job.attempts <= job.max_attempts:
                if not self._handed_count:
                    asyncio.get_running_loop().call_soon(self._start_handed)
                self._handed.setdefault(job.kind, []).append(job)
                self._handed_count += 1
                continue
            task = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")
            self._inflight[job.id] = (job, task)

    def _claimed_counter(self, kind: str) -> Any:
        # The labelled child, looked up once per kind: `labels()` costs more than `inc()`.
        counter = self._claimed_counters.get(kind)
        if counter is None:
            counter = self._claimed_counters[kind] = JOBS_CLAIMED.labels(kind)
        return counter

    def _start_handed(self) -> None:
        """Start the jobs handed over during this loop turn, a batch handler call per batch."""
        handed, self._handed, self._handed_count = self._handed, {}, 0
        if not self._running or self._stopping.is_set():
            # As for jobs handed over while stopping: their leases run out, then any worker
            # claims them.
            return
        for kind, jobs in handed.items():
            # A job handed over twice runs once.
            waiting = [j for j in {j.id: j for j in jobs}.values() if j.id not in self._inflight]
            for start in range(0, len(waiting), HANDED_BATCH):
                batch = waiting[start : start + HANDED_BATCH]
                task = asyncio.create_task(self._run_batch(kind, batch), name=f"jobs-{kind}")
                for job in batch:
                    self._inflight[job.id] = (job, task)

    async def _run_batch(self, kind: str, batch: Sequence[Job]) -> None:
        """Run handed-over jobs through their kind's batch handler and record each outcome."""
        try:
            started = time.perf_counter()
            error = "no outcome"
            results: Mapping[int, HandlerResult | bool] = {}
            try:
                results = await self.batch_handlers[kind](batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%d jobs (%s) failed together", len(batch), kind, exc_info=True)
                error = describe(exc, MAX_ERROR_CHARS)
            seconds = time.perf_counter() - started
            observe = JOB_SECONDS.labels(kind).observe
            recording = []
            settled = {True: 0, False: 0}
            for job in batch:
                observe(seconds)
                result = results.get(job.id)
                if result is None:
                    result = HandlerResult.retry(error)
                if isinstance(result, bool):
                    settled[result] += 1
                    if not result:
                        log.info(
                            "job %s was taken over by another worker; its outcome is dropped",
                            job.id,
                        )
                else:
                    recording.append(self._record_logged(job, result))
            # Counted once per batch: a labelled metric costs more than the job's own share.
            self.stats.done += settled[True] + settled[False]
            self.stats.lost_leases += settled[False]
            for held, count in settled.items():
                if count:
                    JOB_OUTCOMES.labels(kind, "done" if held else "lost").inc(count)
            if recording:
                # Together, so that their settlements share one group commit.
                await asyncio.gather(*recording)
        finally:
            for job in batch:
                self._inflight.pop(job.id, None)
            self._slot_freed.set()

    async def _record_logged(self, job: Job, result: HandlerResult) -> None:
        try:
            await self._record(job, result)
        except Exception as exc:
            # The job stays leased; it comes back when the lease runs out.
            log.warning("recording the outcome of job %s failed: %r", job.id, exc)

    async def run(self) -> None:
        """Claim and run jobs until stop() is called."""
        if self._running:
            raise RuntimeError("worker is already running")
        self._running = True
        self._finished.clear()
        extender = asyncio.create_task(self._extend_leases_forever(), name="lease-extender")
        try:
            await self._claim_loop()
            await self._drain(self._grace)
        finally:
            extender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await extender
            if self._inflight:
                # Cancelled from outside: hand back what is unfinished.
                await asyncio.shield(self._drain(0.0))
            self._running = False
            self._finished.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let running jobs finish for `grace` seconds, release the rest."""
        self._grace = grace
        self._stopping.set()
        if self._running:
            await self._finished.wait()

    async def _claim_loop(self) -> None:
        kinds = sorted(self.handlers)
        failures = 0
        while not self._stopping.is_set():
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                self._slot_freed.clear()
                await self._until_stopped(self._slot_freed.wait())
                continue
            try:
                jobs = await self.queue.claim(
                    self.owner, min(self.batch, free), self.lease_seconds, kinds, self.single_kinds
                )
            except Exception as exc:
                failures += 1
                self.stats.claim_errors += 1
                log.warning("claiming jobs failed: %r", exc)
                await self._until_stopped(asyncio.sleep(min(0.1 * 2**failures, 5.0)))
                continue
            failures = 0
            self.stats.claimed += len(jobs)
            for job in jobs:
                JOBS_CLAIMED.labels(job.kind).inc()
                task = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")
                self._inflight[job.id] = (job, task)
            if not jobs:
                await self._until_stopped(self.queue.wait_for_work(self.idle_seconds))

    async def _until_stopped(self, waiting: Coroutine[Any, Any, Any]) -> None:
        waiter = asyncio.ensure_future(waiting)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                task.cancel()

    async def _run_job(self, job: Job) -> None:
        try:
            result = await self._outcome(job)
            await self._record(job, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The job stays leased; it comes back when the lease runs out.
            log.warning("recording the outcome of job %s failed: %r", job.id, exc)
        finally:
            self._inflight.pop(job.id, None)
            self._slot_freed.set()

    async def _outcome(self, job: Job) -> HandlerResult:
        if job.attempts > job.max_attempts:
            # Each claim counts; a job whose workers keep dying under it must stop somewhere.
            return HandlerResult.failed(f"gave up after {job.max_attempts} attempts (lease lost)")
        handler = self.handlers[job.kind]
        started = time.perf_counter()
        try:
            return await handler(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "job %s (%s) of send %s failed on attempt %d of %d",
                job.id,
                job.kind,
                job.send_id,
                job.attempts,
                job.max_attempts,
                exc_info=True,
            )
            return HandlerResult.retry(describe(exc, MAX_ERROR_CHARS))
        finally:
            JOB_SECONDS.labels(job.kind).observe(time.perf_counter() - started)

    async def _record(self, job: Job, result: HandlerResult) -> None:
        outcome = result.outcome
        if outcome == "done":
            held = job.id in await self.queue.complete([job])
            self.stats.done += 1
        elif outcome == "retry" and job.attempts < job.max_attempts:
            delay = result.retry_after
            if delay is None:
                delay = self.backoff.delay(job.attempts, self._rng)
            run_at = utcnow() + timedelta(seconds=delay)
            held = await self.queue.retry(job, run_at, result.error or "retry")
            self.stats.retried += 1
        else:
            error = result.error or "failed"
            if outcome == "retry":
                error = f"gave up after {job.attempts} attempts: {error}"
                outcome = "failed"
            error = storable(error, MAX_ERROR_CHARS)
            ended = await self._give_up(job, error)
            if ended is None:
                return
            held = ended and await self.queue.fail(job, error)
            if held:
                JOBS_EXHAUSTED.labels(job.kind).inc()
                log.error(
                    "job %s (%s) of send %s is given up: %s", job.id, job.kind, job.send_id, error
                )
            self.stats.failed += 1
        JOB_OUTCOMES.labels(job.kind, outcome if held else "lost").inc()
        if not held:
            self.stats.lost_leases += 1
            log.info("job %s was taken over by another worker; its outcome is dropped", job.id)

    async def _give_up(self, job: Job, error: str) -> bool | None:
        """Run the kind's exhausted hook; tell whether the lease is held (None: try again later)."""
        hook = self.on_exhausted.get(job.kind)
        if hook is None:
            return True
        # Only the holder of the lease ends the job's work: a worker that lost it must not.
        if job.id not in await self.queue.extend_leases(self.owner, [job.id], self.lease_seconds):
            return False
        try:
            await hook(job, error)
        except Exception:
            if job.attempts >= job.max_attempts + EXHAUSTED_HOOK_TRIES:
                log.exception(
                    "ending the work of job %s (%s) of send %s failed for the last time",
                    job.id,
                    job.kind,
                    job.send_id,
                )
                return True
            log.exception(
                "ending the work of job %s (%s) of send %s failed; tried again after its lease",
                job.id,
                job.kind,
                job.send_id,
            )
            return None
        return True

    async def _drain(self, grace: float) -> None:
        tasks = [task for _, task in self._inflight.values()]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        unfinished = [(job, task) for job, task in self._inflight.values() if not task.done()]
        for _, task in unfinished:
            task.cancel()
        await asyncio.gather(*(task for _, task in unfinished), return_exceptions=True)
        if unfinished:
            released = await self.queue.release([job for job, _ in unfinished])
            self.stats.released += len(released)

    async def _extend_leases_forever(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            ids = list(self._inflight)
            if not ids:
                continue
            try:
                held = await self.queue.extend_leases(self.owner, ids, self.lease_seconds)
            except Exception as exc:
                log.warning("extending leases failed: %r", exc)
                continue
            lost = [job_id for job_id in ids if job_id not in held and job_id in self._inflight]
            if lost:
                log.warning("lost the lease of jobs %s", lost)
