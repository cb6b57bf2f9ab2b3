"""Many requests through one pool as a unit: written a pass at a time, answered by callbacks.

A batch costs one coroutine, one timer per pass of started requests and one future to
wait on, instead of a task, two timeout scopes and a future per request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from clarion.providers.h2_connection import Http2Connection, Http2Response
from clarion.providers.h2_errors import QueueTimeoutError, StreamRefusedError
from clarion.providers.h2_headers import CleanHeaders

if TYPE_CHECKING:
    from clarion.providers.h2_pool import Http2Pool

#: One request of a batch: path, checked headers, body.
BatchRequest = tuple[str, CleanHeaders, bytes]
#: What became of one request: its response, or the error that ended it.
BatchAnswer = Http2Response | Exception


class BatchRun:
    """One batch on its way through a pool; `run` returns the answers in request order."""

    def __init__(
        self,
        pool: Http2Pool,
        method: str,
        requests: Sequence[BatchRequest],
        attempt_timeout: float | None,
        max_resends: int,
    ) -> None:
        self._pool = pool
        self._method = method
        self._requests = requests
        self._attempt_timeout = attempt_timeout
        self._max_resends = max_resends
        self._answers: list[BatchAnswer | None] = [None] * len(requests)
        self._pending: deque[int] = deque(range(len(requests)))
        self._resends: dict[int, int] = {}
        self._outstanding: dict[int, tuple[Http2Connection, int]] = {}
        self._left = len(requests)
        self._changed: asyncio.Future[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []

    async def run(self, queue_timeout: float | None) -> list[BatchAnswer]:
        """Send every request, resending refused ones, until each has its answer."""
        loop = asyncio.get_running_loop()
        deadline = None if queue_timeout is None else loop.time() + queue_timeout
        try:
            while self._left:
                if self._pending and not self._pool.has_waiters:
                    self._start_on(self._pool.free_connections())
                if self._pending:
                    await self._wait_for_room(deadline)
                    continue
                self._changed = loop.create_future()
                await self._changed
        finally:
            self._abandon_all()
        return [answer for answer in self._answers if answer is not None]

    async def _wait_for_room(self, deadline: float | None) -> None:
        """Queue for a stream like a single request does, then start what fits."""
        try:
            async with asyncio.timeout_at(deadline):
                connection = await self._pool.acquire()
        except TimeoutError:
            self._fail_pending(QueueTimeoutError("no free HTTP/2 stream in time"))
            return
        except Exception as error:
            self._fail_pending(error)
            return
        if not connection.writable:
            try:
                await connection.wait_writable()
            except BaseException:
                connection.release()
                raise
        self._start_on([connection], held=connection)

    def _start_on(
        self, connections: Sequence[Http2Connection], held: Http2Connection | None = None
    ) -> None:
        """Start pending requests on the free slots of `connections`, in one pass.

        `held` is a connection with one slot already reserved for this batch.
        """
        started: list[int] = []
        pending = self._pending
        method = self._method
        for connection in connections:
            if not connection.writable and connection is not held:
                continue
            free = connection.free_slots
            if connection is held:
                free += 1
            while free > 0 and pending:
                index = pending.popleft()
                path, headers, body = self._requests[index]
                if connection is held:
                    held = None
                else:
                    connection.reserve()
                try:
                    stream_id = connection.start(
                        method, path, headers, body, partial(self._done, index, connection)
                    )
                except StreamRefusedError:
                    connection.release()
                    pending.appendleft(index)
                    break
                self._outstanding[index] = (connection, stream_id)
                started.append(index)
                free -= 1
            if not pending:
                break
        if held is not None:
            held.release()
        if started and self._attempt_timeout is not None:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(self._attempt_timeout, self._expire, started))

    def _done(self, index: int, connection: Http2Connection, answer: BatchAnswer) -> None:
        if self._outstanding.pop(index, None) is None:
            return
        connection.release()
        if isinstance(answer, StreamRefusedError):
            resends = self._resends.get(index, 0)
            if resends < self._max_resends:
                # Never processed by the server: it goes out again, maybe elsewhere.
                self._resends[index] = resends + 1
                self._pending.append(index)
                self._poke()
                return
        self._settle(index, answer)

    def _expire(self, indexes: list[int]) -> None:
        """The attempt deadline of one pass: whatever it started and is unanswered times out."""
        for index in indexes:
            entry = self._outstanding.pop(index, None)
            if entry is None:
                continue
            connection, stream_id = entry
            connection.abandon(stream_id)
            connection.release()
            self._settle(index, TimeoutError())

    def _settle(self, index: int, answer: BatchAnswer) -> None:
        self._answers[index] = answer
        self._left -= 1
        if not self._left:
            self._poke()

    def _fail_pending(self, error: Exception) -> None:
        while self._pending:
            self._settle(self._pending.popleft(), error)

    def _poke(self) -> None:
        changed = self._changed
        if changed is not None and not changed.done():
            changed.set_result(None)

    def _abandon_all(self) -> None:
        for timer in self._timers:
            timer.cancel()
        outstanding, self._outstanding = self._outstanding, {}
        for connection, stream_id in outstanding.values():
            connection.abandon(stream_id)
            connection.release()
