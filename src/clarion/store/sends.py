"""Queries over sends and their delivery trail."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    return "snd_" + _RANDOM_HEX.take()


class _RandomHex:
    """Hex strings of the system's random source, read for many ids at once.

    A read of the random source per id (a system call) cost more than the rest of
    making the id; a forked child starts with none of its parent's unread bytes.
    """

    def __init__(self, size: int, count: int) -> None:
        self._size = size
        self._count = count
        self._hex = ""
        self._at = 0
        os.register_at_fork(after_in_child=self.forget)

    def take(self) -> str:
        """The next `size` random bytes, in hex."""
        if self._at >= len(self._hex):
            self._hex = os.urandom(self._size * self._count).hex()
            self._at = 0
        start, self._at = self._at, self._at + 2 * self._size
        return self._hex[start : self._at]

    def forget(self) -> None:
        """Drop the unread bytes (a forked child must not repeat its parent's ids)."""
        self._hex = ""
        self._at = 0


_RANDOM_HEX = _RandomHex(12, 1024)


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
    await insert_sends(
        conn, [NewSend(send_id, project_id, kind, request, request_hash, idempotency_key)]
    )


@dataclass(frozen=True, slots=True)
class NewSend:
    """A send to insert, already in the status its accept leaves it in."""

    id: str
    project_id: str
    kind: str
    request: dict[str, Any]
    request_hash: str
    idempotency_key: str | None
    status: str = SendStatus.ACCEPTED
    targeted: int = 0
    #: When a send due later is to be planned.
    scheduled_at: datetime | None = None


async def insert_sends(conn: AsyncConnection, new_sends: Sequence[NewSend]) -> None:
    """Insert accepted sends with one statement (a duplicate idempotency key fails them all)."""
    now = utcnow()
    await _INSERT_SEND.run_many(
        conn,
        [
            {
                "id": send.id,
                "project_id": send.project_id,
                "kind": send.kind,
                "status": send.status,
                "request": send.request,
                "request_hash": send.request_hash,
                "idempotency_key": send.idempotency_key,
                "targeted": send.targeted,
                "created_at": now,
                "updated_at": now,
                "completed_at": now if send.status in FINAL_STATUSES else None,
                "scheduled_at": send.scheduled_at,
            }
            for send in new_sends
        ],
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
                "completed_at",
                "scheduled_at",
            )
        }
    )
)
_GET_SEND = Prepared(select(sends).where(sends.c.id == bindparam("id", type_=sends.c.id.type)))
_GET_SEND_HEAD = Prepared(
    select(sends.c.id, sends.c.project_id, sends.c.kind, sends.c.status).where(
        sends.c.id == bindparam("id", type_=sends.c.id.type)
    )
)
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


async def get_send_head(conn: AsyncConnection, send_id: str) -> dict[str, Any] | None:
    """Fetch one send's id, project, kind and status: not its stored request.

    The request of a send to thousands of devices holds every recipient; a reader that
    already has it parsed need not decode it again.
    """
    found = await _GET_SEND_HEAD.run(conn, {"id": send_id})
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


async def done_when_settled(conn: AsyncConnection, *send_ids: str) -> bool:
    """Mark delivering sends done if none of their deliveries is pending; tell whether any was.

    Several sends (a batch of small ones) are checked in one round of the same statement.
    """
    now = utcnow()
    if len(send_ids) == 1:
        return bool(await _DONE_WHEN_SETTLED.run(conn, {"b_id": send_ids[0], "b_now": now}))
    await _DONE_WHEN_SETTLED_MANY.run_many(conn, [{"b_id": i, "b_now": now} for i in send_ids])
    return False


_DONE_WHEN_SETTLED_UPDATE = (
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
)
_DONE_WHEN_SETTLED = Prepared(_DONE_WHEN_SETTLED_UPDATE.returning(sends.c.id))
_DONE_WHEN_SETTLED_MANY = Prepared(_DONE_WHEN_SETTLED_UPDATE)
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
