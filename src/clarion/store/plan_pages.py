"""Writing one page of a broadcast plan: the cursor claim, and the deliver jobs' payloads.

Blocking functions on a plain `Connection`, so that a whole page can run in one thread
hop (see `delivery.page_writer`). The payloads are made in the database from the
delivery rows the page just inserted: reading thousands of ids back into Python to cut
them into batches would step the driver once per row, so a page costs the same handful
of statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, func, literal, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from clarion.domain.vocabulary import SendStatus
from clarion.store.send_tables import deliveries, sends
from clarion.store.sends import PENDING
from clarion.store.types import utcnow


def claim_page(
    conn: Connection,
    send_id: str,
    plannable: Sequence[str],
    cursor: int,
    last_pk: int,
    count: int,
) -> bool:
    """Advance the cursor only from where this run read it: two runs never plan one page."""
    result = conn.execute(
        update(sends)
        .where(
            sends.c.id == send_id,
            sends.c.status.in_(list(plannable)),
            func.coalesce(sends.c.plan_cursor, 0) == cursor,
        )
        .values(
            status=SendStatus.PLANNING,
            plan_cursor=last_pk,
            targeted=sends.c.targeted + count,
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)


def add_targeted(conn: Connection, send_id: str, change: int) -> None:
    """Correct the send's count of targeted devices by `change`."""
    conn.execute(
        update(sends).where(sends.c.id == send_id).values(targeted=sends.c.targeted + change)
    )


def last_delivery_id(conn: Connection) -> int:
    """The highest delivery id this transaction sees (0 when there is none)."""
    highest = conn.execute(select(func.max(deliveries.c.id))).scalar()
    return int(highest or 0)


def batch_payloads(dialect: str, send_id: str, after_id: int, batch: int) -> Select[Any]:
    """One `{"send_id", "delivery_ids"}` document per `batch` pending deliveries of the send
    whose id is above `after_id`, in id order, as the single column `payload`.

    Ids above `after_id` are the rows inserted since it was read: pages of one send are
    planned one after the other, each reading `after_id` in its own transaction.
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
