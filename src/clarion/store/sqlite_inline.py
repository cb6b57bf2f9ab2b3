"""SQLite connections that run statements on the event loop's own thread.

aiosqlite runs every statement in a helper thread. On the send path that costs more
than the statements themselves: each call hands the GIL to the helper thread and back
(measured: a third of the event-loop thread's time was spent waiting for the GIL in
`aiosqlite.Connection._execute` during one-token sends), and SQLite's own work for a
primary-key lookup or a small insert is a few microseconds.

These connections keep aiosqlite's interface, so SQLAlchemy's aiosqlite dialect drives
them unchanged, but run each statement where it is awaited. What could block the loop
does not run there:

* a commit, which syncs the write-ahead log to disk (synchronous=FULL), runs in a
  helper thread;
* a read that runs longer than `READ_BUDGET_SECONDS` on the loop is interrupted by
  SQLite and run again, from the start, in the helper thread. Reads have no effect to
  undo; writes are never interrupted (an interrupted write would roll back its whole
  transaction), so a write always finishes where it started;
* a statement that finds the write lock taken is tried again after a short sleep on
  the loop, up to the busy timeout, so a caller that gives up (a request timeout, a
  cancelled task) stops waiting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url

_T = TypeVar("_T")

#: How long a read may run on the event loop before it moves to the helper thread.
READ_BUDGET_SECONDS: Final = 0.005
#: First and longest sleep between tries of a statement that found the write lock taken.
_FIRST_PAUSE: Final = 0.001
_LONGEST_PAUSE: Final = 0.05
#: SQLite virtual machine steps between checks of a read's time on the loop.
_PROGRESS_STEPS: Final = 20_000
# A statement that only reads: it may be interrupted and run again elsewhere.
_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|PRAGMA\s+\w+\s*$|PRAGMA\s+\w+\s*\()", re.IGNORECASE)
_WRITE_WORD = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE|RETURNING)\b", re.IGNORECASE)

# Few threads: at most one blocking call per connection is ever in flight.
_EXECUTOR: Final = ThreadPoolExecutor(max_workers=4, thread_name_prefix="clarion-sqlite")


def _reads_only(sql: str) -> bool:
    found = _READS_ONLY.get(sql)
    if found is None:
        found = bool(_READ_ONLY.match(sql)) and not _WRITE_WORD.search(sql)
        if len(_READS_ONLY) < 10_000:
            # Statements are mostly the same few strings: classify each once.
            _READS_ONLY[sql] = found
    return found


_READS_ONLY: dict[str, bool] = {}


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def _is_interrupt(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code == sqlite3.SQLITE_INTERRUPT)
    return "interrupted" in str(error)


class _ReadBudget:
    """A progress handler that interrupts a read once it has run for its budget."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = 0.0

    def __call__(self) -> int:
        return 1 if time.perf_counter() > self.deadline else 0


class _Transfer:
    """aiosqlite's job queue, as SQLAlchemy's dialect uses it to set the isolation level."""

    __slots__ = ("_owner",)

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineCursor:
    """A cursor with aiosqlite's awaitable interface over a plain sqlite3 cursor."""

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner._conn.cursor()
        self._rows: list[Any] | None = None

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        """Column names of the last statement's rows."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """Row id of the last inserted row."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows fetched at a time by fetchmany()."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        """Run one statement; its rows are read at once and kept for the fetch calls."""
        self._rows = await self._owner._run(self._execute_all, sql, parameters, _reads_only(sql))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        """Run one statement once per parameter set."""
        rows = list(parameters)
        self._rows = None
        await self._owner._run(self._cursor.executemany, sql, rows, False)
        return self

    def _execute_all(self, sql: str, parameters: Any) -> list[Any] | None:
        self._cursor.execute(sql, parameters)
        # Reading every row here keeps a statement from being left half-stepped across
        # an await, where another statement could run on the same connection.
        return self._cursor.fetchall() if self._cursor.description else None

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""
        rows, self._rows = self._rows or [], []
        return rows

    async def fetchone(self) -> Any:
        """The next row, or None."""
        if not self._rows:
            return None
        return self._rows.pop(0)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` further rows."""
        count = self._cursor.arraysize if size is None else size
        rows = self._rows or []
        taken, self._rows = rows[:count], rows[count:]
        return taken

    async def close(self) -> None:
        """Release the cursor."""
        self._rows = None
        self._cursor.close()

    async def setinputsizes(self, *_: Any) -> None:
        """Accepted and ignored, as sqlite3 does."""


class InlineConnection:
    """One SQLite connection used from the event loop, with aiosqlite's interface."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._busy_seconds = busy_timeout
        # On the loop a locked database must answer at once, never sleep in SQLite.
        conn.execute("PRAGMA busy_timeout=0")
        self._budget = _ReadBudget()
        self._blocking: asyncio.Future[Any] | None = None
        self._tx = _Transfer(self)
        self._connection: sqlite3.Connection | None = conn

    @property
    def isolation_level(self) -> str | None:
        """The sqlite3 module's transaction mode."""
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._conn.in_transaction

    def cursor(self) -> InlineCursor:
        """A new cursor (usable as `async with` or after awaiting `__aenter__`)."""
        return InlineCursor(self)

    async def commit(self) -> None:
        """Commit; the sync to disk happens in the helper thread."""
        await self._settled()
        if self._conn.in_transaction:
            await self._in_thread(self._conn.commit)

    async def rollback(self) -> None:
        """Roll back (cheap: nothing is synced)."""
        await self._settled()
        self._conn.rollback()

    async def close(self) -> None:
        """Close the connection once nothing runs on it."""
        await self._settled()
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        """Close at once (the pool's forced termination)."""
        if self._connection is not None and self._blocking is None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Register an SQL function."""
        await self._settled()
        self._conn.create_function(*args, **kwargs)

    async def fetch(self, sql: str, parameters: Any = ()) -> list[Any]:
        """Run one statement at driver level (lock waits and long reads as for any other)."""
        return await self._run(self._fetch_all, sql, parameters, _reads_only(sql))

    async def run_many(self, sql: str, parameters: list[Any]) -> None:
        """Run one statement once per parameter set, at driver level."""
        await self._run(self._conn.executemany, sql, parameters, False)

    def _fetch_all(self, sql: str, parameters: Any) -> list[Any]:
        return self._conn.execute(sql, parameters).fetchall()

    async def _run(
        self, call: Callable[[str, Any], _T], sql: str, parameters: Any, interruptible: bool
    ) -> _T:
        """Run a statement on the loop: waiting for the write lock off it, long reads elsewhere."""
        await self._settled()
        waited_until: float | None = None
        pause = _FIRST_PAUSE
        while True:
            if self._connection is None:
                raise ValueError("Connection closed")
            if interruptible:
                self._budget.deadline = time.perf_counter() + READ_BUDGET_SECONDS
                self._conn.set_progress_handler(self._budget, _PROGRESS_STEPS)
            try:
                return call(sql, parameters)
            except sqlite3.OperationalError as error:
                if interruptible and _is_interrupt(error):
                    break
                if not _is_busy(error):
                    raise
                # The write lock is taken: wait for it as SQLite's busy handler would,
                # but asleep on the loop, where a cancelled caller stops waiting at once.
                now = time.monotonic()
                waited_until = waited_until or now + self._busy_seconds
                if now >= waited_until:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)
            finally:
                if interruptible:
                    self._conn.set_progress_handler(None, 0)
        return await self._in_thread(lambda: call(sql, parameters), interruptible=True)

    async def _in_thread(self, call: Callable[[], _T], *, interruptible: bool = False) -> _T:
        """Run a blocking call in the helper thread, waiting for the lock up to the timeout."""

        def waiting() -> _T:
            self._conn.execute(f"PRAGMA busy_timeout={int(self._busy_seconds * 1000)}")
            try:
                return call()
            finally:
                self._conn.execute("PRAGMA busy_timeout=0")

        future = asyncio.get_running_loop().run_in_executor(_EXECUTOR, waiting)
        self._blocking = future
        try:
            # Shielded: a cancelled caller must not leave the connection in use by the
            # thread while the pool hands it to someone else.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if interruptible:
                # A read nobody waits for any more is stopped rather than finished.
                self._conn.interrupt()
            raise
        finally:
            if future.done():
                self._blocking = None

    async def _settled(self) -> None:
        """Wait for a blocking call still running in the helper thread (after a cancel)."""
        blocking = self._blocking
        if blocking is not None:
            # Its caller has seen (or abandoned) the error.
            with contextlib.suppress(Exception):
                await asyncio.shield(blocking)
            self._blocking = None


def connector(url: str, busy_timeout: float = 30.0) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy: opens one inline connection to the URL's database.

    The URL is read as SQLAlchemy's SQLite dialect reads it (file: URIs, mode=ro...).
    """
    args, options = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    options.pop("timeout", None)
    # Used by the loop thread and, for blocking calls, by the helper thread, never both
    # at once.
    options["check_same_thread"] = False
    database: str = args[0]

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(database, **options)
        return InlineConnection(conn, busy_timeout)

    return connect
