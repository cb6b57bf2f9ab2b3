"""The rows behind throttling: a send's reserved slots and its held deliveries' times."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.send_tables import deliveries, sends
from clarion.store.sends import PENDING


async def throttled_count(conn: AsyncConnection, send_id: str, now: datetime) -> int:
    """Deliveries of the send waiting for a later window."""
    query = select(func.count()).where(
        deliveries.c.send_id == send_id,
        deliveries.c.outcome == PENDING,
        deliveries.c.scheduled_at > now,
    )
    return int((await conn.execute(query)).scalar_one())


async def reserve_slots(
    conn: AsyncConnection, send_id: str, count: int, now: datetime
) -> tuple[int, datetime]:
    """Take `count` consecutive slots of the send; return the first one and the schedule start."""
    await conn.execute(
        update(sends)
        .where(sends.c.id == send_id)
        .values(
            throttle_reserved=sends.c.throttle_reserved + count,
            throttle_started_at=func.coalesce(sends.c.throttle_started_at, now),
        )
    )
    row = (
        await conn.execute(
            select(sends.c.throttle_reserved, sends.c.throttle_started_at).where(
                sends.c.id == send_id
            )
        )
    ).one()
    return int(row.throttle_reserved) - count, row.throttle_started_at


async def set_delivery_times(conn: AsyncConnection, times: Mapping[int, datetime]) -> None:
    """Give deliveries the start of their throttle window."""
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(scheduled_at=bindparam("b_at")),
        [{"b_id": i, "b_at": when} for i, when in times.items()],
    )
