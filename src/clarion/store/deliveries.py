"""Delivery rows: inserted when a send is planned, updated with each attempt's outcome."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import DeliveryOutcome, SendStatus
from clarion.store.send_tables import deliveries, sends
from clarion.store.sends import PENDING
from clarion.store.tables import installations
from clarion.store.text import storable
from clarion.store.types import utcnow

#: Sizes of the delivery columns free text goes into.
REASON_CHARS = 128
MESSAGE_ID_CHARS = 256
INVALID_REASON_CHARS = 64


@dataclass(frozen=True)
class OutcomeRow:
    """One delivery's attempt as it is written; `final` False keeps it pending."""

    delivery_id: int
    outcome: str
    attempts: int
    final: bool
    status: int | None = None
    reason: str | None = None
    message_id: str | None = None
    language: str | None = None
    first_attempt: bool = False


def _fit(text: str | None, size: int) -> str | None:
    # Provider answers are free text (web push services answer with prose): they must fit
    # their column, or the outcome could never be recorded.
    return storable(text, size) if text is not None else None


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Insert delivery rows; return (id, installation_pk, outcome) of each, in order."""
    if not rows:
        return []
    result = await conn.execute(
        insert(deliveries).returning(
            deliveries.c.id, deliveries.c.installation_pk, deliveries.c.outcome
        ),
        list(rows),
    )
    return list(result)


async def write_outcomes(conn: AsyncConnection, rows: Sequence[OutcomeRow], now: datetime) -> None:
    """Record attempts on deliveries still pending (an outcome is never overwritten)."""
    if not rows:
        return
    plain = _plain_write(conn.dialect)
    stamp = plain.stamp(now)
    template = list(plain.fixed)
    template[plain.at["last_attempt_at"]] = stamp
    at = plain.at
    i_id, i_outcome, i_status = at["b_id"], at["b_outcome"], at["b_status"]
    i_reason, i_message, i_language = at["b_reason"], at["b_message_id"], at["b_language"]
    i_attempts, i_completed, i_first = at["b_attempts"], at["b_completed"], at["b_first"]
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = template.copy()
        values[i_id] = row.delivery_id
        values[i_outcome] = row.outcome
        values[i_status] = row.status
        values[i_reason] = _fit(row.reason, REASON_CHARS)
        values[i_message] = _fit(row.message_id, MESSAGE_ID_CHARS)
        values[i_language] = row.language
        values[i_attempts] = row.attempts
        values[i_completed] = stamp if row.final else None
        values[i_first] = stamp if row.first_attempt else None
        params.append(tuple(values))
    # The statement is compiled once per dialect and run as the driver's own executemany:
    # SQLAlchemy's per-row parameter handling cost more than the database's work.
    await conn.exec_driver_sql(plain.sql, params)


@dataclass(frozen=True)
class _PlainStatement:
    """A statement compiled for one dialect, with its positional parameter layout."""

    sql: str
    at: dict[str, int]
    fixed: tuple[Any, ...]
    stamp: Callable[[datetime], Any]


_PLAIN: dict[str, _PlainStatement] = {}


def _plain_write(dialect: Dialect) -> _PlainStatement:
    key = f"{dialect.name}+{dialect.driver}"
    plain = _PLAIN.get(key)
    if plain is not None:
        return plain
    statement = _WRITE_OUTCOME.values(
        last_attempt_at=bindparam("last_attempt_at", type_=deliveries.c.last_attempt_at.type)
    )
    compiled = statement.compile(dialect=dialect)
    if not compiled.positional or compiled.positiontup is None:
        raise RuntimeError(f"{key} does not take positional parameters")
    order = list(compiled.positiontup)
    defaults = compiled.params
    processor = deliveries.c.last_attempt_at.type.bind_processor(dialect)

    def stamp(value: datetime) -> Any:
        return processor(value) if processor is not None else value

    plain = _PlainStatement(
        sql=compiled.string,
        at={name: index for index, name in enumerate(order)},
        fixed=tuple(defaults.get(name) for name in order),
        stamp=stamp,
    )
    _PLAIN[key] = plain
    return plain


# One statement for the whole batch: the first attempt's time rides along, kept once set.
_WRITE_OUTCOME = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.outcome == PENDING)
    .values(
        outcome=bindparam("b_outcome"),
        provider_status=bindparam("b_status"),
        provider_reason=bindparam("b_reason"),
        provider_message_id=bindparam("b_message_id"),
        language=bindparam("b_language"),
        attempts=bindparam("b_attempts"),
        completed_at=bindparam("b_completed", type_=deliveries.c.completed_at.type),
        first_attempt_at=func.coalesce(
            deliveries.c.first_attempt_at,
            bindparam("b_first", type_=deliveries.c.first_attempt_at.type),
        ),
    )
)


async def invalidate_installations(
    conn: AsyncConnection, reasons: Sequence[tuple[int, str | None]], now: datetime
) -> None:
    """Mark installations whose token the provider refused for good, with its reason."""
    invalid = [
        {"b_pk": pk, "b_reason": _fit(reason, INVALID_REASON_CHARS), "b_at": now}
        for pk, reason in reasons
    ]
    if invalid:
        await conn.execute(
            update(installations)
            .where(installations.c.pk == bindparam("b_pk"))
            .values(invalidated_at=bindparam("b_at"), invalid_reason=bindparam("b_reason")),
            invalid,
        )


async def none_pending_locked(conn: AsyncConnection, send_id: str) -> bool:
    """Whether the send has no pending delivery, waiting (PostgreSQL) for one being finished.

    Locking a pending row waits for a delivery transaction that is finishing it right
    now, so its outcome is seen before deciding.
    """
    pending = (
        select(deliveries.c.id)
        .where(deliveries.c.send_id == send_id, deliveries.c.outcome == PENDING)
        .limit(1)
        .with_for_update()
    )
    return (await conn.execute(pending)).first() is None


async def claim_page(
    conn: AsyncConnection,
    send_id: str,
    plannable: Sequence[str],
    cursor: int,
    last_pk: int,
    count: int,
) -> bool:
    """Advance the cursor only from where this run read it: two runs never plan one page."""
    result = await conn.execute(
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


async def add_targeted(conn: AsyncConnection, send_id: str, change: int) -> None:
    """Correct the send's count of targeted devices by `change`."""
    await conn.execute(
        update(sends).where(sends.c.id == send_id).values(targeted=sends.c.targeted + change)
    )


async def error_pending(
    conn: AsyncConnection, send_id: str, ids: Sequence[int] | None, reason: str
) -> int:
    """Close the send's pending deliveries (only `ids` when given) as `error`."""
    query = update(deliveries).where(
        deliveries.c.send_id == send_id, deliveries.c.outcome == PENDING
    )
    if ids is not None:
        query = query.where(deliveries.c.id.in_(list(ids)))
    now = utcnow()
    result = await conn.execute(
        query.values(
            outcome=DeliveryOutcome.ERROR,
            provider_reason=storable(reason, REASON_CHARS),
            completed_at=now,
        )
    )
    return int(result.rowcount)


async def insert_delivery(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """Insert one complete delivery row (an SMS of the last step)."""
    await conn.execute(deliveries.insert(), [row])
