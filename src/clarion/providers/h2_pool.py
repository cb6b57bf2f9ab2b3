"""A pool of HTTP/2 connections to one origin that never exceeds the server's stream limits."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence

from clarion.providers.h2_batch import BatchAnswer, BatchRequest, BatchRun
from clarion.providers.h2_connection import (
    PING_TIMEOUT_SECONDS,
    Http2Connection,
    Http2Response,
)
from clarion.providers.h2_errors import QueueTimeoutError, StreamRefusedError
from clarion.providers.h2_headers import CleanHeaders
from clarion.providers.outbound import OutboundPolicy

# A request refused this many times in a row (GOAWAY storms) is given up on;
# the caller's timeout usually ends such a storm first.
MAX_TRANSPARENT_RESENDS = 10


class Http2Pool:
    """Spreads requests over up to `max_connections` connections, waiting for free streams."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        *,
        max_connections: int = 4,
        connect_timeout: float = 10.0,
        ping_timeout: float = PING_TIMEOUT_SECONDS,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._ping_timeout = ping_timeout
        self._outbound = outbound
        self._connections: list[Http2Connection] = []
        self._opening = 0
        self._opened_total = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Waiters handed a slot that have not yet run to take it: the slot is theirs.
        self._woken = 0
        self._closed = False

    @property
    def connections(self) -> list[Http2Connection]:
        """Live connections (for metrics and tests)."""
        return [c for c in self._connections if not c.is_closed]

    @property
    def connections_opened(self) -> int:
        """How many connections this pool has opened over its life (reconnects included)."""
        return self._opened_total

    @property
    def host(self) -> str:
        """The server host name this pool connects to."""
        return self._host

    async def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | CleanHeaders,
        body: bytes,
        *,
        attempt_timeout: float | None = None,
        queue_timeout: float | None = None,
    ) -> Http2Response:
        """Send one request, resending transparently when the server never processed it.

        `queue_timeout` bounds the wait for a free stream (and any connect);
        `attempt_timeout` bounds each attempt once its stream is open.
        """
        for attempt in range(MAX_TRANSPARENT_RESENDS + 1):
            # A free slot needs no waiting, so no deadline to arm and disarm.
            connection = self._take_free() if not (self._waiters or self._woken) else None
            if connection is None:
                try:
                    async with asyncio.timeout(queue_timeout):
                        connection = await self.acquire()
                except TimeoutError as error:
                    raise QueueTimeoutError("no free HTTP/2 stream in time") from error
            try:
                async with asyncio.timeout(attempt_timeout):
                    return await connection.request(method, path, headers, body)
            except StreamRefusedError:
                if attempt == MAX_TRANSPARENT_RESENDS:
                    raise
            finally:
                connection.release()
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_free(self) -> Http2Connection | None:
        """A connection with a slot reserved for the caller, if one is free right now."""
        if self._closed:
            return None
        connection = self._least_loaded()
        if connection is not None:
            connection.reserve()
        return connection

    async def request_many(
        self,
        method: str,
        requests: Sequence[BatchRequest],
        *,
        attempt_timeout: float | None = None,
        queue_timeout: float | None = None,
    ) -> list[BatchAnswer]:
        """Send many requests as one batch; answers (responses or errors) in request order.

        Refused requests are resent as `request` resends them; `queue_timeout` bounds
        the batch's waits for free streams, `attempt_timeout` each pass of started ones.
        """
        if not requests:
            return []
        run = BatchRun(self, method, requests, attempt_timeout, MAX_TRANSPARENT_RESENDS)
        return await run.run(queue_timeout)

    @property
    def has_waiters(self) -> bool:
        """Whether requests are queued for streams (newcomers must queue behind them)."""
        return bool(self._waiters or self._woken)

    def free_connections(self) -> list[Http2Connection]:
        """Usable connections with a free stream slot, least loaded first."""
        if self._closed:
            return []
        free = [c for c in self._connections if c.free_slots > 0]
        free.sort(key=lambda c: c.in_use)
        return free

    async def acquire(self) -> Http2Connection:
        """A connection with a reserved stream slot, opening one if the cap allows."""
        queued_before = False
        while True:
            if self._closed:
                raise RuntimeError("pool is closed")
            self._connections = [c for c in self._connections if not c.is_closed]
            connection = self._least_loaded()
            if connection is not None:
                connection.reserve()
                return connection
            if self._can_open_another():
                await self._open_one()
                continue
            waiter = asyncio.get_running_loop().create_future()
            # A woken waiter that lost its slot to a newcomer keeps its place at the front.
            if queued_before:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
            queued_before = True
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # We were handed capacity we will not use: pass it on.
                    self._woken -= 1
                    self._wake_waiters()
                else:
                    self._waiters.remove(waiter)
                raise
            self._woken -= 1

    def _least_loaded(self) -> Http2Connection | None:
        best: Http2Connection | None = None
        for connection in self._connections:
            if connection.free_slots > 0 and (best is None or connection.in_use < best.in_use):
                best = connection
        return best

    def _can_open_another(self) -> bool:
        usable = sum(1 for c in self._connections if c.usable)
        return usable + self._opening < self._max_connections

    async def _open_one(self) -> None:
        self._opening += 1
        try:
            connection = await self._connect()
        finally:
            self._opening -= 1
            self._wake_waiters()
        if self._closed:
            connection.close()
            return
        self._opened_total += 1
        self._connections.append(connection)
        self._wake_waiters()

    async def _connect(self) -> Http2Connection:
        """A new connection; under a policy, only to an address it allows (resolved once)."""
        if self._outbound is None:
            return await self._open_to(None)
        async with asyncio.timeout(self._connect_timeout):
            addresses = await self._outbound.resolve(self._host, self._port)
        last_error: OSError | None = None
        for address in addresses:
            try:
                return await self._open_to(address)
            except OSError as error:
                last_error = error
        assert last_error is not None
        raise last_error

    async def _open_to(self, address: str | None) -> Http2Connection:
        return await Http2Connection.open(
            self._host,
            self._port,
            self._ssl_context,
            on_capacity_change=self._wake_waiters,
            connect_timeout=self._connect_timeout,
            ping_timeout=self._ping_timeout,
            address=address,
        )

    def _wake_waiters(self) -> None:
        """Wake as many queued requests as there is room for, oldest first.

        Room already promised to woken waiters that have not run yet is not offered
        again: each release would otherwise wake a crowd that finds nothing free.
        """
        if not self._waiters:
            return
        room = sum(c.free_slots for c in self._connections) - self._woken
        if self._closed or self._can_open_another():
            room += 1
        while room > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._woken += 1
                room -= 1

    async def close(self) -> None:
        """Close every connection and refuse further requests."""
        self._closed = True
        connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        for connection in connections:
            await connection.wait_closed()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._woken += 1
