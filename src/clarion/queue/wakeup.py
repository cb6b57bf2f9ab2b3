"""Waking idle workers when jobs are enqueued: LISTEN/NOTIFY on PostgreSQL, an event in-process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

CHANNEL = "clarion_jobs"
LISTENER_APPLICATION_NAME = "clarion-queue-listener"
_PENDING_KEY = "clarion.queue.wakeups"


async def notify_in_transaction(conn: AsyncConnection) -> None:
    """Queue a NOTIFY that PostgreSQL delivers only if the caller's transaction commits."""
    await conn.execute(select(func.pg_notify(CHANNEL, "")))


def wake_after_commit(conn: AsyncConnection, wake: Callable[[], None]) -> None:
    """Call `wake` when the caller's transaction commits; forget it on rollback.

    SQLAlchemy reports the commit just before the driver performs it. Waking that
    early is harmless on SQLite: the woken claimer's BEGIN IMMEDIATE waits for the
    write lock the committing transaction still holds, then sees the new rows.
    """
    sync_engine = conn.sync_engine
    # Looking the listener up in SQLAlchemy's registry cost more than the rest of this.
    if sync_engine not in _LISTENED:
        if not event.contains(sync_engine, "commit", _run_wakeups):
            event.listen(sync_engine, "commit", _run_wakeups)
            event.listen(sync_engine, "rollback", _drop_wakeups)
        _LISTENED.add(sync_engine)
    pending: set[Callable[[], None]] = conn.sync_connection.info.setdefault(  # type: ignore[union-attr]
        _PENDING_KEY, set()
    )
    pending.add(wake)


#: Engines whose commits and rollbacks run the wake-ups.
_LISTENED: weakref.WeakSet[Engine] = weakref.WeakSet()


def _run_wakeups(conn: Connection) -> None:
    for wake in conn.info.pop(_PENDING_KEY, ()):
        wake()


def _drop_wakeups(conn: Connection) -> None:
    conn.info.pop(_PENDING_KEY, None)


class PgListener:
    """A dedicated asyncpg connection LISTENing on the jobs channel; reconnects on demand."""

    def __init__(self, sqlalchemy_url: str, on_notify: Callable[[], None]) -> None:
        url = make_url(sqlalchemy_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._on_notify = on_notify
        self._conn: asyncpg.Connection | None = None

    async def ensure_listening(self) -> bool:
        """Connect and LISTEN if not already; tell whether notifications are flowing."""
        if self._conn is not None and not self._conn.is_closed():
            return True
        try:
            conn = await asyncpg.connect(
                self._dsn, server_settings={"application_name": LISTENER_APPLICATION_NAME}
            )
            await conn.add_listener(CHANNEL, self._callback)
            # A lost connection wakes the waiter, whose next wait reconnects.
            conn.add_termination_listener(self._callback)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN for new jobs, polling instead: %r", exc)
            return False
        self._conn = conn
        # Jobs enqueued while not listening would be missed: wake once to look.
        self._on_notify()
        return True

    async def close(self) -> None:
        """Stop listening and close the connection."""
        if self._conn is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._conn.close()
            self._conn = None

    def _callback(self, *_args: Any) -> None:
        self._on_notify()


async def wait_event(event_: asyncio.Event, seconds: float) -> bool:
    """Wait for an event up to `seconds`, then clear it; tell whether it fired."""
    try:
        await asyncio.wait_for(event_.wait(), seconds)
    except TimeoutError:
        return False
    event_.clear()
    return True
