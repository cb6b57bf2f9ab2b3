"""Delivery rows: inserted when a send is planned, updated with each attempt's outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import DeliveryOutcome
from clarion.store.prepared import Prepared
from clarion.store.send_tables import deliveries
from clarion.store.sends import PENDING
from clarion.store.tables import installations
from clarion.store.text import storable
from clarion.store.types import utcnow

#: Sizes of the delivery columns free text goes into.
REASON_CHARS = 128
MESSAGE_ID_CHARS = 256
INVALID_REASON_CHARS = 64


@dataclass(slots=True)
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


@dataclass(frozen=True, slots=True)
class Inserted:
    """What the insert of one delivery row returns."""

    id: int
    installation_pk: int | None
    outcome: str


#: The columns planning gives every row it inserts.
PLANNED_COLUMNS = (
    "send_id",
    "installation_pk",
    "app_id",
    "installation_id",
    "platform",
    "recipient_kind",
    "recipient",
    "token",
    "outcome",
    "provider_reason",
    "attempts",
    "created_at",
    "completed_at",
)
_INSERT_ROWS = Prepared(
    insert(deliveries)
    .values({name: bindparam(name, type_=deliveries.c[name].type) for name in PLANNED_COLUMNS})
    .returning(
        deliveries.c.id,
        deliveries.c.installation_pk,
        deliveries.c.outcome,
        sort_by_parameter_order=True,
    )
)


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Insert delivery rows; return (id, installation_pk, outcome) of each, in order."""
    if not rows:
        return []
    if all(len(row) == len(PLANNED_COLUMNS) for row in rows):
        if conn.dialect.name == "postgresql" and len(rows) > 1:
            # One statement over arrays: a multi-row VALUES insert bound every cell as a
            # parameter of its own, a thousand rows per statement.
            columns = {name: [row[name] for row in rows] for name in PLANNED_COLUMNS}
            return [Inserted(*found) for found in await conn.execute(_INSERT_MANY_PG, columns)]
        return [Inserted(**found) for found in await _INSERT_ROWS.insert_returning(conn, rows)]
    result = await conn.execute(
        insert(deliveries).returning(
            deliveries.c.id,
            deliveries.c.installation_pk,
            deliveries.c.outcome,
            sort_by_parameter_order=True,
        ),
        list(rows),
    )
    return list(result)


_PG_ARRAY_TYPES = {
    "installation_pk": "bigint[]",
    "attempts": "integer[]",
    "created_at": "timestamptz[]",
    "completed_at": "timestamptz[]",
}
# PostgreSQL: the planned rows as parallel arrays, unnested into one INSERT … SELECT.
_INSERT_MANY_PG = text(
    f"INSERT INTO deliveries ({', '.join(PLANNED_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(
        f"CAST(:{name} AS {_PG_ARRAY_TYPES.get(name, 'text[]')})" for name in PLANNED_COLUMNS
    )
    + ") RETURNING id, installation_pk, outcome"
)


async def write_outcomes(conn: AsyncConnection, rows: Sequence[OutcomeRow], now: datetime) -> None:
    """Record attempts on deliveries still pending (an outcome is never overwritten)."""
    if conn.dialect.name == "sqlite" and len(rows) > 1:
        # One statement over the batch as a JSON array: an executemany steps SQLite and
        # converts every parameter once per row.
        batch = [
            [
                row.delivery_id,
                str(row.outcome),
                row.status,
                _fit(row.reason, REASON_CHARS),
                _fit(row.message_id, MESSAGE_ID_CHARS),
                row.language,
                row.attempts,
                row.final,
                row.first_attempt,
            ]
            for row in rows
        ]
        await _WRITE_OUTCOMES_SQLITE.run(conn, {"b_rows": json.dumps(batch), "b_now": now})
        return
    params = [
        {
            "b_id": row.delivery_id,
            "b_outcome": row.outcome,
            "b_status": row.status,
            "b_reason": _fit(row.reason, REASON_CHARS),
            "b_message_id": _fit(row.message_id, MESSAGE_ID_CHARS),
            "b_language": row.language,
            "b_attempts": row.attempts,
            "b_completed": now if row.final else None,
            "b_first": now if row.first_attempt else None,
        }
        for row in rows
    ]
    if not params:
        return
    if conn.dialect.name == "postgresql" and len(params) > 1:
        # One statement over arrays: an executemany would run (and plan) one UPDATE per row.
        columns = {name: [param[name] for param in params] for name in params[0]}
        await conn.execute(_WRITE_OUTCOMES_PG, columns | {"b_now": now})
        return
    for param in params:
        param["b_now"] = now
    await _WRITE_OUTCOME.run_many(conn, params)


# PostgreSQL: the batch's rows as parallel arrays, unnested into one UPDATE … FROM.
_WRITE_OUTCOMES_PG = text(
    f"""
    UPDATE deliveries AS d SET
        outcome = v.outcome,
        provider_status = v.status,
        provider_reason = v.reason,
        provider_message_id = v.message_id,
        language = v.language,
        attempts = v.attempts,
        completed_at = v.completed,
        first_attempt_at = coalesce(d.first_attempt_at, v.first),
        last_attempt_at = :b_now
    FROM unnest(
        CAST(:b_id AS bigint[]), CAST(:b_outcome AS text[]), CAST(:b_status AS integer[]),
        CAST(:b_reason AS text[]), CAST(:b_message_id AS text[]),
        CAST(:b_language AS text[]), CAST(:b_attempts AS integer[]),
        CAST(:b_completed AS timestamptz[]), CAST(:b_first AS timestamptz[])
    ) AS v(id, outcome, status, reason, message_id, language, attempts, completed, first)
    WHERE d.id = v.id AND d.outcome = '{PENDING.value}'
    """
).bindparams(bindparam("b_now", type_=deliveries.c.last_attempt_at.type))


# SQLite: the batch's rows as one JSON array of
# [id, outcome, status, reason, message_id, language, attempts, final, first attempt].
_WRITE_OUTCOMES_SQLITE = Prepared(
    text(
        f"""
        UPDATE deliveries SET
            outcome = json_extract(v.value, '$[1]'),
            provider_status = json_extract(v.value, '$[2]'),
            provider_reason = json_extract(v.value, '$[3]'),
            provider_message_id = json_extract(v.value, '$[4]'),
            language = json_extract(v.value, '$[5]'),
            attempts = json_extract(v.value, '$[6]'),
            completed_at = CASE WHEN json_extract(v.value, '$[7]') THEN :b_now END,
            first_attempt_at = coalesce(
                deliveries.first_attempt_at, CASE WHEN json_extract(v.value, '$[8]') THEN :b_now END
            ),
            last_attempt_at = :b_now
        FROM json_each(:b_rows) AS v
        WHERE deliveries.id = json_extract(v.value, '$[0]')
            AND deliveries.outcome = '{PENDING.value}'
        """
    ).bindparams(bindparam("b_now", type_=deliveries.c.last_attempt_at.type))
)


# One statement for the whole batch: the first attempt's time rides along, kept once set.
_WRITE_OUTCOME = Prepared(
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
        last_attempt_at=bindparam("b_now", type_=deliveries.c.last_attempt_at.type),
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
