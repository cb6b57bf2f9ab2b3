"""Queries over sends and their delivery trail."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import (
    COUNTED_OUTCOMES,
    FINAL_STATUSES,
    DeliveryOutcome,
    SendStatus,
)
from clarion.store.pagination import key_param
from clarion.store.prepared import Prepared
from clarion.store.send_tables import deliveries, sends
from clarion.store.types import utcnow

PENDING = DeliveryOutcome.PENDING


def new_send_id() -> str:
    """A sortable-enough, unguessable send id."""
    return "snd_" + secrets.token_hex(12)


async def insert_send(
    conn: AsyncConnection,
    send_id: str,
    project_id: str,
    kind: str,
    request: dict[str, Any],
    request_hash: str,
    idempotency_key: str | None,
) -> None:
    """Insert an accepted send (the caller's transaction also enqueues its planning job)."""
    now = utcnow()
    await _INSERT_SEND.run(
        conn,
        {
            "id": send_id,
            "project_id": project_id,
            "kind": kind,
            "status": SendStatus.ACCEPTED,
            "request": request,
            "request_hash": request_hash,
            "idempotency_key": idempotency_key,
            "targeted": 0,
            "created_at": now,
            "updated_at": now,
        },
    )


_INSERT_SEND = Prepared(
    sends.insert().values(
        {
            name: bindparam(name, type_=sends.c[name].type)
            for name in (
                "id",
                "project_id",
                "kind",
                "status",
                "request",
                "request_hash",
                "idempotency_key",
                "targeted",
                "created_at",
                "updated_at",
            )
        }
    )
)
_GET_SEND = Prepared(select(sends).where(sends.c.id == bindparam("id", type_=sends.c.id.type)))
_HAS_PENDING = Prepared(
    select(deliveries.c.id)
    .where(
        deliveries.c.send_id == bindparam("send_id", type_=deliveries.c.send_id.type),
        deliveries.c.outcome == PENDING,
    )
    .limit(1)
)


async def get_send(conn: AsyncConnection, send_id: str) -> dict[str, Any] | None:
    """Fetch one send."""
    found = await _GET_SEND.run(conn, {"id": send_id})
    return found[0] if found else None


async def find_by_idempotency_key(
    conn: AsyncConnection, project_id: str, key: str
) -> dict[str, Any] | None:
    """The send an idempotency key already created, if any."""
    query = select(sends).where(sends.c.project_id == project_id, sends.c.idempotency_key == key)
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def set_status(
    conn: AsyncConnection,
    send_id: str,
    status: str,
    *,
    only_from: Iterable[str] | None = None,
    **values: Any,
) -> bool:
    """Move a send to a status (optionally only from given statuses); tell whether it moved."""
    now = utcnow()
    if status in FINAL_STATUSES:
        values.setdefault("completed_at", now)
    allowed = tuple(only_from) if only_from is not None else None
    statement = _status_update(allowed, tuple(sorted(values)))
    params = {"b_id": send_id, "status": status, "updated_at": now, **values}
    return bool(await statement.run(conn, params))


async def lock_for_settling(conn: AsyncConnection, send_id: str) -> None:
    """Hold the send's settling lock until the caller's transaction ends, then ask what is pending.

    Under PostgreSQL's READ COMMITTED, two batches of one send finishing at once each see
    the other's deliveries still pending, and neither would end the send. With the lock
    held, the later one waits for the earlier one's commit, then sees its outcomes. Take
    it after writing the batch's outcomes, so the wait is only the other commit. An
    advisory lock, not the send's row: a cancel, which changes the row and then the
    deliveries, must not wait crosswise with a batch that changed deliveries first.
    SQLite has one writer at a time: nothing to do there.
    """
    if conn.dialect.name == "postgresql":
        await _LOCK_SEND.run(conn, {"b_id": send_id})


# A 64-bit hash of the send id: two sends sharing one lock are too unlikely to matter.
_LOCK_SEND = Prepared(
    select(
        func.pg_advisory_xact_lock(
            func.hashtextextended(bindparam("b_id", type_=sends.c.id.type), 0)
        )
    )
)


async def done_when_settled(conn: AsyncConnection, send_id: str) -> bool:
    """Mark a delivering send done if none of its deliveries is pending; tell whether it was."""
    now = utcnow()
    params = {"b_id": send_id, "b_now": now}
    return bool(await _DONE_WHEN_SETTLED.run(conn, params))


_DONE_WHEN_SETTLED = Prepared(
    update(sends)
    .where(
        sends.c.id == bindparam("b_id", type_=sends.c.id.type),
        sends.c.status == SendStatus.DELIVERING,
        ~select(deliveries.c.id)
        .where(deliveries.c.send_id == sends.c.id, deliveries.c.outcome == PENDING)
        .exists(),
    )
    .values(
        status=SendStatus.DONE,
        updated_at=bindparam("b_now", type_=sends.c.updated_at.type),
        completed_at=bindparam("b_now", type_=sends.c.completed_at.type),
    )
    .returning(sends.c.id)
)
_STATUS_UPDATES: dict[tuple[tuple[str, ...] | None, tuple[str, ...]], Prepared] = {}


def _status_update(only_from: tuple[str, ...] | None, columns: tuple[str, ...]) -> Prepared:
    """The prepared status change for one set of allowed statuses and changed columns."""
    key = (only_from, columns)
    found = _STATUS_UPDATES.get(key)
    if found is None:
        query = update(sends).where(sends.c.id == bindparam("b_id", type_=sends.c.id.type))
        if only_from is not None:
            query = query.where(or_(*(sends.c.status == status for status in only_from)))
        names = ("status", "updated_at", *columns)
        found = Prepared(
            query.values({name: bindparam(name, type_=sends.c[name].type) for name in names})
            # The row itself says whether it moved, on every database.
            .returning(sends.c.id)
        )
        _STATUS_UPDATES[key] = found
    return found


async def outcome_counts(conn: AsyncConnection, send_id: str) -> dict[str, int]:
    """Number of deliveries per outcome."""
    rows = await conn.execute(
        select(deliveries.c.outcome, func.count())
        .where(deliveries.c.send_id == send_id)
        .group_by(deliveries.c.outcome)
    )
    counts: dict[str, int] = dict.fromkeys(COUNTED_OUTCOMES, 0)
    for outcome, count in rows:
        counts[outcome] = count
    return counts


async def has_pending(conn: AsyncConnection, send_id: str) -> bool:
    """Whether any delivery of the send still waits for its outcome."""
    return bool(await _HAS_PENDING.run(conn, {"send_id": send_id}))


async def list_deliveries(
    conn: AsyncConnection, send_id: str, after: int | None, limit: int, outcome: str | None = None
) -> list[dict[str, Any]]:
    """The per-device trail of a send, in targeting order."""
    query = (
        select(deliveries)
        .where(deliveries.c.send_id == send_id)
        .order_by(deliveries.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(deliveries.c.id > key_param(after))
    if outcome is not None:
        query = query.where(deliveries.c.outcome == outcome)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def cancel_pending(conn: AsyncConnection, send_id: str) -> int:
    """Mark every pending delivery of a send cancelled."""
    now = utcnow()
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.send_id == send_id, deliveries.c.outcome == PENDING)
        .values(outcome=DeliveryOutcome.CANCELLED, completed_at=now)
    )
    return int(result.rowcount)


async def list_sends(
    conn: AsyncConnection,
    project_id: str,
    before: tuple[datetime, str] | None,
    limit: int,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """A project's sends, newest first, before a (created_at, id) position."""
    query = (
        select(sends)
        .where(sends.c.project_id == project_id)
        .order_by(sends.c.created_at.desc(), sends.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        created_at, send_id = before
        query = query.where(
            or_(
                sends.c.created_at < created_at,
                and_(sends.c.created_at == created_at, sends.c.id < send_id),
            )
        )
    if status is not None:
        query = query.where(sends.c.status == status)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def set_error_once(conn: AsyncConnection, send_id: str, error: str) -> None:
    """Record why a send went wrong, keeping the first reason if it already has one."""
    await conn.execute(
        update(sends)
        .where(sends.c.id == send_id, sends.c.error.is_(None))
        .values(error=error, updated_at=utcnow())
    )


async def set_schedule(
    conn: AsyncConnection, send_id: str, status: str, scheduled_at: datetime
) -> None:
    """Record when a just-inserted send is due to be planned, and its status until then."""
    await conn.execute(
        update(sends).where(sends.c.id == send_id).values(status=status, scheduled_at=scheduled_at)
    )
