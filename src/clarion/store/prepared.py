"""Statements of the send path compiled once and run at driver level on SQLite.

A SQLAlchemy Core statement costs some 100-200 µs of Python per execution (cache key,
parameter and result processing, execution context) against a few µs for SQLite to
run it. For the handful of statements every send runs, `Prepared` compiles the
statement once per dialect and, on SQLite, runs the compiled SQL on the connection's
sqlite3 handle directly, with the columns' own bind and result conversions, so the
rows written and read are exactly what SQLAlchemy would write and read. Elsewhere
(PostgreSQL) it runs the same statement through SQLAlchemy, but for batches
(`run_many`), which go to the driver's own executemany with the same conversions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

from clarion.store.sqlite_inline import InlineConnection

Row = dict[str, Any]
_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binds: tuple[_Processor, ...]
    keys: tuple[str, ...]
    results: tuple[_Processor, ...]


class Prepared:
    """One Core statement, compiled once per dialect; run with `run` or `run_many`."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"
        found = self._by_dialect.get(key)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            assert isinstance(compiled, SQLCompiler)
            names = tuple(compiled.positiontup or ())
            processors: Mapping[str, Any] = compiled._bind_processors
            results = [
                (entry.keyname, entry.type._cached_result_processor(dialect, None))
                for entry in compiled._result_columns
            ]
            if not compiled.positional:
                raise RuntimeError(f"{key} does not take positional parameters")
            found = _Compiled(
                sql=compiled.string,
                names=names,
                defaults=compiled.construct_params(_check=False),
                binds=tuple(processors.get(name) for name in names),
                keys=tuple(name for name, _ in results),
                results=tuple(processor for _, processor in results),
            )
            self._by_dialect[key] = found
        return found

    async def run(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Row]:
        """Execute once; the result rows as dicts (empty for statements without rows)."""
        handle = await sqlite_handle(conn)
        if handle is None:
            result = await conn.execute(self.statement, dict(params))
            return [dict(row) for row in result.mappings()] if result.returns_rows else []
        compiled = self._compiled(conn.dialect)
        bound = _bound(compiled, params)
        try:
            rows = await handle.fetch(compiled.sql, bound)
        except sqlite3.Error as error:
            raise _wrapped(compiled, bound, error) from error
        return [_row(compiled, row) for row in rows]

    async def insert_returning(
        self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]
    ) -> list[Row]:
        """Insert one row per parameter set; the RETURNING rows in parameter order.

        For an INSERT … VALUES … RETURNING whose first returned column is the table's
        autoincrementing id, built with `sort_by_parameter_order=True`. On SQLite the rows
        go in multi-row statements, whose new ids ascend in the order of their rows.
        """
        if not params:
            return []
        handle = await sqlite_handle(conn)
        if handle is None:
            result = await conn.execute(self.statement, [dict(p) for p in params])
            return [dict(row) for row in result.mappings()]
        compiled = self._compiled(conn.dialect)
        head, values, tail = _rows_sql(compiled.sql)
        memo: dict[int, Any] = {}
        found: list[Row] = []
        for start in range(0, len(params), _ROWS_PER_INSERT):
            chunk = params[start : start + _ROWS_PER_INSERT]
            sql = head + ", ".join([values] * len(chunk)) + tail
            bound = [value for p in chunk for value in _bound(compiled, p, memo)]
            try:
                rows = await handle.fetch(sql, bound)
            except sqlite3.Error as error:
                raise _wrapped(compiled, bound, error) from error
            found += sorted((_row(compiled, row) for row in rows), key=_first)
        return found

    async def run_many(self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (no rows returned)."""
        if not params:
            return
        handle = await sqlite_handle(conn)
        compiled = self._compiled(conn.dialect)
        memo: dict[int, Any] = {}
        bound = [_bound(compiled, p, memo) for p in params]
        if handle is None:
            # The driver's own executemany: SQLAlchemy's per-row parameter handling costs
            # more than the database's work for a batch of outcomes.
            await conn.exec_driver_sql(compiled.sql, [tuple(row) for row in bound])
            return
        try:
            await handle.run_many(compiled.sql, bound)
        except sqlite3.Error as error:
            raise _wrapped(compiled, bound, error) from error


#: Rows per multi-row insert: far below SQLite's limit of bound values per statement.
_ROWS_PER_INSERT = 200


def _rows_sql(sql: str) -> tuple[str, str, str]:
    """An `INSERT … VALUES (…) RETURNING …` cut around its one row of values."""
    at = sql.index(" VALUES (") + len(" VALUES ")
    end = sql.index(")", at) + 1
    if set(sql[at + 1 : end - 1]) - set("?, "):
        raise ValueError(f"not a row of plain parameters: {sql[at:end]}")
    return sql[:at], sql[at:end], sql[end:]


def _first(row: Row) -> Any:
    return next(iter(row.values()))


def _wrapped(compiled: _Compiled, params: Any, error: sqlite3.Error) -> Exception:
    """The error as SQLAlchemy raises it (IntegrityError for a duplicate key, and so on)."""
    return DBAPIError.instance(compiled.sql, params, error, sqlite3.Error)


def _bound(
    compiled: _Compiled, params: Mapping[str, Any], memo: dict[int, Any] | None = None
) -> list[Any]:
    """Positional values, each through its column's conversion.

    `memo` keeps conversions of objects shared by the rows of one executemany (the batch's
    timestamp), converted once instead of once per row.
    """
    values = []
    for name, processor in zip(compiled.names, compiled.binds, strict=True):
        value = params[name] if name in params else compiled.defaults[name]
        if processor is None or value is None:
            values.append(value)
        elif memo is not None and isinstance(value, datetime):
            done = memo.get(id(value))
            if done is None:
                done = memo[id(value)] = processor(value)
            values.append(done)
        else:
            values.append(processor(value))
    return values


def _row(compiled: _Compiled, row: Sequence[Any]) -> Row:
    return {
        key: (processor(value) if processor is not None else value)
        for key, processor, value in zip(compiled.keys, compiled.results, row, strict=True)
    }


async def sqlite_handle(conn: AsyncConnection) -> InlineConnection | None:
    """The inline SQLite connection under an open connection, when it is one of ours."""
    if conn.dialect.name != "sqlite":
        return None
    if not conn.in_transaction():
        # As SQLAlchemy's own execute would: the connection's commit() then commits
        # what the driver-level statements wrote.
        await conn.begin()
    driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    return driver if isinstance(driver, InlineConnection) else None


@asynccontextmanager
async def savepoint(conn: AsyncConnection) -> AsyncIterator[None]:
    """A savepoint inside the open transaction: rolled back to if the block raises.

    On SQLite it is two driver-level statements; SQLAlchemy's own savepoint costs as
    much as the rest of a small send's planning.
    """
    handle = await sqlite_handle(conn)
    if handle is None:
        nested = await conn.begin_nested()
        try:
            yield
        except BaseException:
            await nested.rollback()
            raise
        await nested.commit()
        return
    await handle.fetch("SAVEPOINT clarion_sp")
    try:
        yield
    except BaseException:
        await handle.fetch("ROLLBACK TO SAVEPOINT clarion_sp")
        await handle.fetch("RELEASE SAVEPOINT clarion_sp")
        raise
    await handle.fetch("RELEASE SAVEPOINT clarion_sp")
