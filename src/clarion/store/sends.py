"""Queries over sends and their delivery trail."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import (
    COUNTED_OUTCOMES,
    FINAL_STATUSES,
    DeliveryOutcome,
    SendStatus,
)
from clarion.store.pagination import key_param
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
    await conn.execute(
        sends.insert().values(
            id=send_id,
            project_id=project_id,
            kind=kind,
            status=SendStatus.ACCEPTED,
            request=request,
            request_hash=request_hash,
            idempotency_key=idempotency_key,
            targeted=0,
            created_at=now,
            updated_at=now,
        )
    )


async def get_send(conn: AsyncConnection, send_id: str) -> dict[str, Any] | None:
    """Fetch one send."""
    found = (await conn.execute(select(sends).where(sends.c.id == send_id))).mappings().first()
    return dict(found) if found else None


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
    query = update(sends).where(sends.c.id == send_id)
    if only_from is not None:
        query = query.where(sends.c.status.in_(list(only_from)))
    if status in FINAL_STATUSES:
        values.setdefault("completed_at", now)
    result = await conn.execute(query.values(status=status, updated_at=now, **values))
    return bool(result.rowcount)


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
    query = (
        select(deliveries.c.id)
        .where(deliveries.c.send_id == send_id, deliveries.c.outcome == PENDING)
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


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
