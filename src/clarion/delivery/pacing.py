"""Applying a send's throttle to a batch: hand out slots, hold back what is not due yet.

A held delivery keeps the outcome `pending` in storage with `scheduled_at` set to
the start of its window; the API reports such a delivery as `throttled` (with that
`scheduled_at`) until its window opens. Keeping it pending means cancelling the
send, and every "anything left to deliver?" check, treat it like any other delivery.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.delivery.jobs import deliver_job
from clarion.domain.throttle import ThrottleRule, split_slots
from clarion.domain.vocabulary import DeliveryOutcome
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store import throttling as throttle_rows


@dataclass(frozen=True)
class Paced:
    """A batch split into the deliveries due now and those held for a later window."""

    due: list[Any]
    held: dict[int, datetime]


def shown_outcome(row: Mapping[str, Any], now: datetime) -> str:
    """The outcome the API reports: a pending delivery waiting for its window is `throttled`."""
    outcome = str(row["outcome"])
    scheduled = row.get("scheduled_at")
    if outcome == send_store.PENDING and scheduled is not None and scheduled > now:
        return DeliveryOutcome.THROTTLED
    return outcome


async def pace(
    queue: SqlJobQueue,
    send_id: str,
    rule: ThrottleRule,
    rows: Sequence[Any],
    now: datetime,
) -> Paced:
    """Give unscheduled rows a slot and a time; hold (and re-enqueue) those not due yet.

    Rows already holding a time (`scheduled_at`) keep it: a retry is not a new message.
    """
    fresh = [row for row in rows if row.scheduled_at is None]
    times: dict[int, datetime] = {row.id: row.scheduled_at for row in rows if row.scheduled_at}
    if fresh:
        first, start = await queue.writer.write(
            lambda conn: throttle_rows.reserve_slots(conn, send_id, len(fresh), now)
        )
        for row, when in zip(fresh, split_slots(rule, first, len(fresh), start), strict=True):
            times[row.id] = when
    held = {delivery_id: when for delivery_id, when in times.items() if when > now}
    due = [row for row in rows if row.id not in held]
    newly = {row.id: times[row.id] for row in fresh}
    if held or newly:
        await queue.writer.write(lambda conn: _hold(conn, queue, send_id, held, newly))
    return Paced(due, held)


async def _hold(
    conn: AsyncConnection,
    queue: SqlJobQueue,
    send_id: str,
    held: dict[int, datetime],
    newly: dict[int, datetime],
) -> None:
    if newly:
        await throttle_rows.set_delivery_times(conn, newly)
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for delivery_id, when in held.items():
        by_time[when].append(delivery_id)
    await queue.enqueue(
        conn, [deliver_job(send_id, sorted(ids), when) for when, ids in sorted(by_time.items())]
    )
