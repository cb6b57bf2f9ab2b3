"""Payloads of `deliver` jobs made in the database from delivery rows just inserted.

A broadcast page inserts thousands of delivery rows by INSERT … SELECT; reading their
ids back into Python to cut them into batches would step the driver once per row. These
statements cut them in SQL instead, so a page costs the same handful of statements
whatever its size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.send_tables import deliveries
from clarion.store.sends import PENDING


async def last_delivery_id(conn: AsyncConnection) -> int:
    """The highest delivery id this transaction sees (0 when there is none)."""
    highest = (await conn.execute(select(func.max(deliveries.c.id)))).scalar()
    return int(highest or 0)


def batch_payloads(dialect: str, send_id: str, after_id: int, batch: int) -> Select[Any]:
    """One `{"send_id", "delivery_ids"}` document per `batch` pending deliveries of the send
    whose id is above `after_id`, in id order, as the single column `payload`.

    Ids above `after_id` are the rows inserted since it was read: pages of one send are
    planned one after the other, and each page reads `after_id` in its own transaction.
    """
    numbered = (
        select(
            deliveries.c.id,
            # Integer division on both databases (`//` would add a FLOOR SQLite may lack).
            (func.row_number().over(order_by=deliveries.c.id) - 1)
            .self_group()
            .op("/")(batch)
            .label("batch"),
        )
        .where(
            deliveries.c.send_id == send_id,
            deliveries.c.id > after_id,
            deliveries.c.outcome == PENDING,
        )
        .subquery("numbered")
    )
    sent = literal(send_id, String)
    if dialect == "postgresql":
        ids = func.json_agg(aggregate_order_by(numbered.c.id, numbered.c.id))
        payload = func.json_build_object("send_id", sent, "delivery_ids", ids)
    else:
        # SQLite feeds the aggregate in the subquery's (id) order.
        ids = func.json_group_array(numbered.c.id)
        payload = func.json_object("send_id", sent, "delivery_ids", ids)
    return (
        select(payload.label("payload"))
        .select_from(numbered)
        .group_by(numbered.c.batch)
        .order_by(numbered.c.batch)
    )
