"""One writer task that commits queued state changes in groups, each caller awaiting its group.

Measured on a 2-core machine, 20,000 leased jobs each completed from its own task:
SQLite 17k-30k completions/s grouped (25 transactions) against 0.5k-1.3k/s with one
commit per job; PostgreSQL 18k-25k/s grouped against 0.6k-0.8k/s. A worker with a
no-op handler and 500 slots ran 13k-19k jobs/s on SQLite and 9k-14k jobs/s on
PostgreSQL (ranges over runs on a shared, busy machine). On a disk file, SQLite's
synchronous=FULL (fsync at every commit, durable across power loss) cut one-by-one
commits from about 590/s to 160/s but left grouped completions at about 14k/s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[AsyncConnection], Awaitable[Any]]
#: Writes many callers' items with one statement per table; returns a result per item.
BatchFn = Callable[[AsyncConnection, Sequence[Any]], Awaitable[Sequence[Any]]]
#: Where a group transaction keeps the steps its writes left for just before its commit.
_LAST_STEPS = "clarion.group_commit.last_steps"


async def before_commit(conn: AsyncConnection, key: str, step: WriteFn) -> None:
    """Run `step` just before the writer's transaction on `conn` commits: once per `key`.

    A group's steps run in key order, after all its writes: steps that lock rows (a send's,
    to decide whether it is finished) then take them in one order in every process, so two
    groups never wait for each other crosswise, and hold them only until the commit. On a
    connection the writer does not run, the step runs at once.
    """
    steps: dict[str, WriteFn] | None = conn.sync_connection.info.get(_LAST_STEPS)  # type: ignore[union-attr]
    if steps is None:
        await step(conn)
    else:
        steps.setdefault(key, step)


class Settling(Protocol):
    """A small state change that many callers submit and one statement applies in bulk."""

    @property
    def job_id(self) -> int:
        """The row the change applies to."""
        ...


S = TypeVar("S", bound=Settling)
#: Applies a group's settlements on an open connection; returns the ids it changed.
ApplyFn = Callable[[AsyncConnection, Sequence[S]], Awaitable[set[int]]]


@dataclass(slots=True)
class _Request(Generic[S]):
    settlements: Sequence[S] = ()
    write: WriteFn | None = None
    batch: BatchFn | None = None
    item: Any = None
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class GroupCommitStats:
    """Counters that show how well writes are being grouped."""

    groups: int = 0
    requests: int = 0
    settlements: int = 0


class GroupCommitWriter(Generic[S]):
    """Serializes writes through one task; each transaction carries every request waiting.

    A caller's future resolves only after the transaction holding its request has
    committed, so nothing is acknowledged before it is durable. On SQLite this task
    is the process's only writer of queue state, and takes the write lock up front
    with BEGIN IMMEDIATE so it never fails half-way on a lock upgrade.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        apply: ApplyFn[S],
        *,
        immediate: bool,
        max_group: int = 5000,
        on_group: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._apply = apply
        self._on_group = on_group
        self._immediate = immediate
        self._max_group = max_group
        self._requests: asyncio.Queue[_Request[S] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.stats = GroupCommitStats()

    @property
    def waiting(self) -> bool:
        """Whether writes are queued for the next group."""
        return not self._requests.empty()

    async def settle(self, settlements: Sequence[S]) -> set[int]:
        """Apply settlements; return the ids whose lease was still held."""
        applied: set[int] = await self._submit(_Request[S](settlements=settlements))
        return applied

    async def write(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a write inside the next group transaction and return its result once committed."""
        result: T = await self._submit(_Request[S](write=write))
        return result

    async def write_batched(self, batch: BatchFn, item: Any) -> Any:
        """Hand `item` to `batch` in the next group, with the group's other items for it.

        The group's items for one batch function are written by one call of it; if the
        group fails, each request is retried alone, so `batch` also runs with one item.
        """
        request: _Request[S] = _Request(batch=batch, item=item)
        return await self._submit(request)

    async def close(self) -> None:
        """Commit what is waiting, then stop the writer task."""
        self._closed = True
        if self._task is not None:
            await self._requests.put(None)
            await self._task
            self._task = None

    async def _submit(self, request: _Request[S]) -> Any:
        if self._closed:
            raise RuntimeError("the queue writer is closed")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="clarion-queue-writer")
        # The queue is unbounded: putting never waits.
        self._requests.put_nowait(request)
        return await request.future

    async def _run(self) -> None:
        while True:
            first = await self._requests.get()
            if first is None:
                return
            group = [first]
            stopping = False
            while len(group) < self._max_group and not self._requests.empty():
                more = self._requests.get_nowait()
                if more is None:
                    stopping = True
                    break
                group.append(more)
            await self._commit_group(group)
            if stopping:
                return

    async def _commit_group(self, group: list[_Request[S]]) -> None:
        try:
            results = await self._transaction(group)
        except Exception as exc:
            if len(group) == 1:
                log.warning("queue write failed: %r", exc)
                if not group[0].future.done():
                    group[0].future.set_exception(exc)
                return
            # One bad request must not fail its neighbours: retry each on its own.
            for request in group:
                await self._commit_group([request])
            return
        self.stats.groups += 1
        self.stats.requests += len(group)
        if self._on_group is not None:
            self._on_group(len(group))
        for request, result in zip(group, results, strict=True):
            if not request.future.done():
                request.future.set_result(result)

    async def _transaction(self, group: list[_Request[S]]) -> list[Any]:
        async with self._engine.connect() as conn:
            if self._immediate:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            steps: dict[str, WriteFn] = {}
            conn.sync_connection.info[_LAST_STEPS] = steps  # type: ignore[union-attr]
            try:
                rows = [s for request in group for s in request.settlements]
                applied = await self._apply(conn, rows) if rows else set()
                results: list[Any] = []
                batches: dict[BatchFn, list[int]] = {}
                for index, request in enumerate(group):
                    if request.batch is not None:
                        batches.setdefault(request.batch, []).append(index)
                        results.append(None)
                    elif request.write is not None:
                        results.append(await request.write(conn))
                    else:
                        results.append({s.job_id for s in request.settlements} & applied)
                for batch, indexes in batches.items():
                    done = await batch(conn, [group[index].item for index in indexes])
                    for index, result in zip(indexes, done, strict=True):
                        results[index] = result
                for key in sorted(steps):
                    await steps[key](conn)
            finally:
                # The pooled connection outlives this transaction.
                conn.sync_connection.info.pop(_LAST_STEPS, None)  # type: ignore[union-attr]
            await conn.commit()
        self.stats.settlements += sum(len(r.settlements) for r in group)
        return results
