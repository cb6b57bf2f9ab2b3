"""The job queue on a SQL database: SQLite (single writer, group commit) or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, String, bindparam, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from clarion.queue.handoff import LocalRunner
from clarion.queue.metrics import GROUP_COMMIT_REQUESTS
from clarion.queue.models import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    Job,
    NewJob,
    Settlement,
)
from clarion.queue.statements import (
    SETTLE_CHUNK,
    cancel_statement,
    claim_statement,
    counts_statement,
    extend_statement,
    purge_statement,
    settle_statement,
)
from clarion.queue.wakeup import PgListener, notify_in_transaction, wait_event, wake_after_commit
from clarion.store.group_commit import GroupCommitWriter
from clarion.store.job_tables import DONE, FAILED, LEASED, QUEUED, STATUSES, jobs
from clarion.store.prepared import Prepared
from clarion.store.types import UtcDateTime, utcnow

T = TypeVar("T")


class SqlJobQueue:
    """Durable jobs with leases in the `jobs` table.

    A claimed job is leased to one owner until its lease expires; a worker that
    dies simply stops extending it, and the job becomes claimable again. Every
    settlement is fenced by (owner, attempts), so a worker whose lease was taken
    over can no longer change the job.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        sqlite_poll_seconds: float = 0.25,
        max_group: int = 5000,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._engine = engine
        # Runs of a job that names no limit of its own before it is given up.
        self.max_attempts = max_attempts
        self._sqlite = engine.dialect.name == "sqlite"
        self._sqlite_poll_seconds = sqlite_poll_seconds
        self._work_event = asyncio.Event()
        self.writer = GroupCommitWriter(
            engine,
            _apply_settlements,
            immediate=self._sqlite,
            max_group=max_group,
            on_group=GROUP_COMMIT_REQUESTS.observe,
        )
        #: The worker of this process, when one runs here and takes jobs at creation.
        self.local: LocalRunner | None = None
        self._listener: PgListener | None = None
        if not self._sqlite:
            self._listener = PgListener(
                engine.url.render_as_string(hide_password=False), self._work_event.set
            )

    @property
    def engine(self) -> AsyncEngine:
        """The engine the queue runs on."""
        return self._engine

    async def enqueue(self, conn: AsyncConnection, new_jobs: Sequence[NewJob]) -> list[int]:
        """Insert jobs inside the caller's open transaction; they exist only if it commits."""
        if not new_jobs:
            return []
        now = utcnow()
        rows = [
            {
                "kind": job.kind,
                "payload": job.payload,
                "send_id": job.send_id,
                "status": QUEUED,
                "priority": job.priority,
                "run_at": job.run_at or now,
                "attempts": 0,
                "max_attempts": job.max_attempts or self.max_attempts,
                "lease_owner": None,
                "lease_expires_at": None,
                "created_at": now,
                "updated_at": now,
            }
            for job in new_jobs
        ]
        ids = [found["id"] for found in await _INSERT_JOBS.insert_returning(conn, rows)]
        if self._sqlite:
            wake_after_commit(conn, self._work_event.set)
        else:
            await notify_in_transaction(conn)
        return ids

    def insert_selected(
        self, kind: str, send_id: str, payloads: Select[Any], run_at: datetime | None = None
    ) -> Insert:
        """A statement inserting one job per row of `payloads` (its `payload` column).

        For jobs made by the thousand, whose payloads the database builds without them
        passing through Python. Run it in the caller's transaction, then `announce` (in
        that transaction) or `wake` (once it has committed) so that idle workers look.
        """
        now = utcnow()
        source = payloads.subquery("payloads")
        rows = select(
            source.c.payload,
            literal(kind, String),
            literal(send_id, String),
            literal(QUEUED, String),
            literal(0, Integer),
            literal(run_at or now, UtcDateTime),
            literal(0, Integer),
            literal(self.max_attempts, Integer),
            literal(now, UtcDateTime),
            literal(now, UtcDateTime),
        )
        columns = [
            "payload",
            "kind",
            "send_id",
            "status",
            "priority",
            "run_at",
            "attempts",
            "max_attempts",
            "created_at",
            "updated_at",
        ]
        return insert(jobs).from_select(columns, rows)

    async def announce(self, conn: AsyncConnection) -> None:
        """Wake idle workers once the caller's open transaction, which made jobs, commits."""
        if self._sqlite:
            wake_after_commit(conn, self._work_event.set)
        else:
            await notify_in_transaction(conn)

    def wake(self) -> None:
        """Wake this process's idle workers: jobs were committed outside the queue's view."""
        self._work_event.set()

    async def enqueue_leased(
        self, conn: AsyncConnection, new_jobs: Sequence[NewJob], runner: LocalRunner
    ) -> list[Job]:
        """Insert jobs already leased to `runner`, inside the caller's open transaction.

        The caller hands them to `runner.adopt` once the transaction has committed; until
        their lease runs out no other worker claims them.
        """
        if not new_jobs:
            return []
        now = utcnow()
        expires = now + timedelta(seconds=runner.lease_seconds)
        rows = [
            {
                "kind": job.kind,
                "payload": job.payload,
                "send_id": job.send_id,
                "status": LEASED,
                "priority": job.priority,
                # A leased job's run_at is its lease expiry: when it becomes claimable again.
                "run_at": expires,
                # Created leased counts as the first claim, as a claim would have.
                "attempts": 1,
                "max_attempts": job.max_attempts or self.max_attempts,
                "lease_owner": runner.owner,
                "lease_expires_at": expires,
                "created_at": now,
                "updated_at": now,
            }
            for job in new_jobs
        ]
        ids = [found["id"] for found in await _INSERT_JOBS.insert_returning(conn, rows)]
        return [
            Job(
                id=job_id,
                kind=job.kind,
                payload=job.payload,
                send_id=job.send_id,
                priority=job.priority,
                attempts=1,
                max_attempts=job.max_attempts or self.max_attempts,
                lease_owner=runner.owner,
                lease_expires_at=expires,
                last_error=None,
                created_at=now,
            )
            for job_id, job in zip(ids, new_jobs, strict=True)
        ]

    async def claim(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        kinds: Sequence[str] | None = None,
        single_kinds: Sequence[str] = (),
    ) -> list[Job]:
        """Lease up to `limit` due jobs (and jobs whose lease expired) to `owner`.

        Of `single_kinds`, one job at most per claim.
        """
        if limit <= 0:
            return []

        async def claim_in(conn: AsyncConnection) -> list[Job]:
            now = utcnow()
            statement = claim_statement(
                owner,
                limit,
                now,
                now + timedelta(seconds=lease_seconds),
                kinds,
                skip_locked=not self._sqlite,
                single_kinds=single_kinds,
            )
            rows = (await conn.execute(statement)).mappings().all()
            return sorted((_job(row) for row in rows), key=lambda j: (-j.priority, j.id))

        if self._sqlite:
            return await self.writer.write(claim_in)
        async with self._engine.begin() as conn:
            return await claim_in(conn)

    async def complete(self, jobs_done: Sequence[Job]) -> set[int]:
        """Mark jobs done; return the ids whose lease was still held."""
        return await self.settle([_settlement(job, DONE) for job in jobs_done])

    async def retry(self, job: Job, run_at: datetime, error: str) -> bool:
        """Requeue a job for `run_at`; tell whether the lease was still held."""
        applied = await self.settle([_settlement(job, QUEUED, run_at=run_at, error=error)])
        return job.id in applied

    async def fail(self, job: Job, error: str) -> bool:
        """Mark a job failed for good; tell whether the lease was still held."""
        return job.id in await self.settle([_settlement(job, FAILED, error=error)])

    async def release(self, jobs_back: Sequence[Job]) -> set[int]:
        """Hand unfinished jobs back, due now, without counting the attempt."""
        now = utcnow()
        return await self.settle(
            [_settlement(job, QUEUED, run_at=now, refund=1) for job in jobs_back]
        )

    async def complete_in(self, conn: AsyncConnection, jobs_done: Sequence[Job]) -> set[int]:
        """Mark jobs done inside the caller's open transaction; return the ids whose lease held.

        For a handler whose work and settlement commit together: one transaction, and no
        window where the work is recorded but its job still leased.
        """
        if not jobs_done:
            return set()
        return await _apply_settlements(conn, [_settlement(job, DONE) for job in jobs_done])

    async def settle(self, settlements: Sequence[Settlement]) -> set[int]:
        """Apply settlements in the next group commit; return those whose lease was held."""
        if not settlements:
            return set()
        return await self.writer.settle(settlements)

    async def extend_leases(
        self, owner: str, ids: Iterable[int], lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> set[int]:
        """Push back the leases `owner` still holds; return those ids."""
        id_list = list(ids)
        if not id_list:
            return set()

        async def extend_in(conn: AsyncConnection) -> set[int]:
            now = utcnow()
            expires = now + timedelta(seconds=lease_seconds)
            result = await conn.execute(extend_statement(owner, id_list, now, expires))
            return set(result.scalars())

        return await self._write(extend_in)

    async def cancel_send(self, send_id: str) -> int:
        """Cancel a send's queued and in-flight jobs; return how many were cancelled."""

        async def cancel_in(conn: AsyncConnection) -> int:
            result = await conn.execute(cancel_statement(send_id, utcnow()))
            return int(result.rowcount)

        return await self._write(cancel_in)

    async def purge(self, finished_before: datetime, limit: int = 10_000) -> int:
        """Delete up to `limit` done, failed or cancelled jobs last changed before a time."""

        async def purge_in(conn: AsyncConnection) -> int:
            result = await conn.execute(purge_statement(finished_before, limit))
            return int(result.rowcount)

        return await self._write(purge_in)

    async def run_in_transaction(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `write(conn)` in a transaction and return its result once committed.

        On SQLite the write joins the writer's next group commit, so many API
        requests (a send and its jobs each) share one commit instead of queueing
        for the database lock one by one. `write` may run a second time, alone,
        if its group failed: it must not act outside the database.
        """
        return await self._write(write)

    async def run_batched(
        self, batch: Callable[[AsyncConnection, Sequence[Any]], Awaitable[Sequence[T]]], item: Any
    ) -> T:
        """Write `item` with `batch(conn, items)` and return its result once committed.

        On SQLite the items of one group commit go to a single call of `batch`, which
        writes them with a statement per table instead of a statement per item and
        table; elsewhere each item has its own transaction. `batch` may be called
        again with this item alone, if its group failed.
        """
        if self._sqlite:
            result: T = await self.writer.write_batched(batch, item)
            return result
        async with self._engine.begin() as conn:
            return (await batch(conn, [item]))[0]

    async def counts(self, send_id: str | None = None) -> dict[str, int]:
        """Jobs per status, of one send or of the whole queue (every status, zeros included)."""
        found = dict.fromkeys(STATUSES, 0)
        async with self._engine.connect() as conn:
            for status, count in (await conn.execute(counts_statement(send_id))).all():
                found[status] = int(count)
        return found

    async def wait_for_work(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Sleep until jobs may have been enqueued or `timeout` passes.

        On SQLite other processes cannot signal us, so the wait is capped at a
        short poll interval; on PostgreSQL a NOTIFY sent by the enqueuing
        transaction's commit wakes us.
        """
        if self._listener is not None:
            listening = await self._listener.ensure_listening()
            if not listening:
                timeout = min(timeout, 1.0)
        else:
            timeout = min(timeout, self._sqlite_poll_seconds)
        return await wait_event(self._work_event, timeout)

    async def close(self) -> None:
        """Commit pending writes, stop the writer and the listener."""
        await self.writer.close()
        if self._listener is not None:
            await self._listener.close()

    async def _write(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._sqlite:
            return await self.writer.write(write)
        async with self._engine.begin() as conn:
            return await write(conn)


def _settlement(
    job: Job,
    status: str,
    *,
    run_at: datetime | None = None,
    error: str | None = None,
    refund: int = 0,
) -> Settlement:
    return Settlement(job.id, job.lease_owner, job.attempts, status, run_at, error, refund)


def _job(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        payload=row["payload"],
        send_id=row["send_id"],
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


async def _apply_settlements(conn: AsyncConnection, rows: Sequence[Settlement]) -> set[int]:
    applied: set[int] = set()
    now = utcnow()
    for start in range(0, len(rows), SETTLE_CHUNK):
        chunk = rows[start : start + SETTLE_CHUNK]
        statement, parameters = settle_statement(conn.dialect.name, chunk, now)
        result = await conn.execute(statement, parameters)
        applied.update(result.scalars())
    return applied


_LEASED_COLUMNS = (
    "kind",
    "payload",
    "send_id",
    "status",
    "priority",
    "run_at",
    "attempts",
    "max_attempts",
    "lease_owner",
    "lease_expires_at",
    "created_at",
    "updated_at",
)
# Jobs made at accept and planning: a prepared insert instead of a compiled one.
_INSERT_JOBS = Prepared(
    insert(jobs)
    .values({name: bindparam(name, type_=jobs.c[name].type) for name in _LEASED_COLUMNS})
    .returning(jobs.c.id, sort_by_parameter_order=True)
)
