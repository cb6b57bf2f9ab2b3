"""The periodic sweep that reports sends still open long after they should have ended.

A send is reported when it is not final (`accepted`, `scheduled`, `planning`,
`delivering`), started more than `stuck_after` seconds ago (a scheduled send starts at
its scheduled time), and none of its jobs is waiting for a later time on purpose
(throttling, local-time delivery, a retry's backoff). Such a send normally means
something delivery does not know how to end: an operator should look at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store.stuck_sends import StuckSend, stuck_sends
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

STUCK_SENDS = Gauge(
    "clarion_stuck_sends",
    "Sends found still open long after they started, at the last sweep",
)
#: Sends named in the log per sweep; the gauge counts them all.
MAX_NAMED = 100


class StuckSendSweep:
    """Every `interval` seconds, counts and logs the sends open for over `stuck_after` seconds."""

    def __init__(self, engine: AsyncEngine, *, interval: float, stuck_after: float) -> None:
        if interval <= 0 or stuck_after <= 0:
            raise ValueError("the sweep interval and the stuck threshold must be positive")
        self.engine = engine
        self.interval = interval
        self.stuck_after = stuck_after
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Sweep until stop(); a failing sweep is logged and tried at the next interval."""
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except Exception:
                log.warning("sweeping for stuck sends failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def stop(self) -> None:
        """Ask run() to return after the sweep in progress, if any.

        The loop is not cancelled mid-query: a database call cancelled half-way can
        leave its pooled connection waiting on the server, and shutdown with it.
        """
        self._stopping.set()

    async def sweep(self, now: datetime | None = None) -> list[StuckSend]:
        """Find the stuck sends, set the gauge and log a warning naming each (up to MAX_NAMED)."""
        now = now or utcnow()
        async with self.engine.connect() as conn:
            total, found = await stuck_sends(
                conn, now, timedelta(seconds=self.stuck_after), MAX_NAMED
            )
        STUCK_SENDS.set(total)
        for send in found:
            log.warning(
                "send %s of project %s is still %s %.0f s after it started; nothing due ends it",
                send.id,
                send.project_id,
                send.status,
                (now - send.started_at).total_seconds(),
            )
        if total > len(found):
            log.warning("%d more sends are stuck", total - len(found))
        return found
