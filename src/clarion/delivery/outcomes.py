"""Outcomes of delivery attempts: what one device's attempt came to, and their recording."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.delivery.caps import hits_for
from clarion.delivery.finish import complete_send
from clarion.delivery.inbox import inbox_item
from clarion.delivery.jobs import deliver_job
from clarion.domain.command import SendCommand
from clarion.providers.result import DeliveryResult, Outcome
from clarion.queue.sql import SqlJobQueue
from clarion.store import caps as cap_store
from clarion.store import inbox as inbox_store
from clarion.store import sends as send_store
from clarion.store.send_tables import deliveries
from clarion.store.tables import installations
from clarion.store.text import storable
from clarion.store.types import utcnow

#: Provider attempts per device before its outcome is recorded as an error.
MAX_DELIVERY_ATTEMPTS = 8
#: Sizes of the delivery columns free text goes into.
REASON_CHARS = 128
MESSAGE_ID_CHARS = 256
INVALID_REASON_CHARS = 64

RetryAt = Callable[[datetime, list["DeviceResult"]], datetime]


@dataclass
class DeviceResult:
    """What one device's attempt came to; `pending` means it is tried again later."""

    delivery_id: int
    outcome: str
    attempts: int
    status: int | None = None
    reason: str | None = None
    message_id: str | None = None
    language: str | None = None
    retry_after: float | None = None
    invalidate_pk: int | None = None
    first_attempt: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def apply_answer(result: DeviceResult, delivery: DeliveryResult, row: Any) -> DeviceResult:
    """Fill a device's result from its provider's answer."""
    result.status = delivery.status
    result.reason = delivery.reason
    result.message_id = delivery.provider_message_id
    if delivery.outcome is Outcome.SENT:
        result.outcome = "sent"
    elif delivery.outcome is Outcome.INVALID_TOKEN:
        result.outcome = "undeliverable"
        result.invalidate_pk = int(row.installation_pk)
    elif delivery.outcome is Outcome.FAILED or result.attempts >= MAX_DELIVERY_ATTEMPTS:
        result.outcome = "error"
    else:
        result.retry_after = delivery.retry_after
    return result


def _fit(text: str | None, size: int) -> str | None:
    # Provider answers are free text (web push services answer with prose): they must fit
    # their column, or the outcome could never be recorded.
    return storable(text, size) if text is not None else None


async def record_outcomes(
    conn: AsyncConnection,
    queue: SqlJobQueue,
    send: dict[str, Any],
    command: SendCommand,
    results: list[DeviceResult],
    retry_at: RetryAt,
) -> None:
    """Record a batch's outcomes; requeue the devices to retry, or complete the send."""
    send_id = str(send["id"])
    now = utcnow()
    retry: list[DeviceResult] = []
    params = []
    for result in results:
        final = result.outcome != "pending"
        if not final:
            retry.append(result)
        params.append(
            {
                "b_id": result.delivery_id,
                "b_outcome": result.outcome,
                "b_status": result.status,
                "b_reason": _fit(result.reason, REASON_CHARS),
                "b_message_id": _fit(result.message_id, MESSAGE_ID_CHARS),
                "b_language": result.language,
                "b_attempts": result.attempts,
                "b_last": now,
                "b_completed": now if final else None,
            }
        )
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"), deliveries.c.outcome == send_store.PENDING)
        .values(
            outcome=bindparam("b_outcome"),
            provider_status=bindparam("b_status"),
            provider_reason=bindparam("b_reason"),
            provider_message_id=bindparam("b_message_id"),
            language=bindparam("b_language"),
            attempts=bindparam("b_attempts"),
            last_attempt_at=bindparam("b_last"),
            completed_at=bindparam("b_completed"),
        ),
        params,
    )
    firsts = [{"b_id": r.delivery_id, "b_first": now} for r in results if r.first_attempt]
    if firsts:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(first_attempt_at=bindparam("b_first")),
            firsts,
        )
    invalid = [
        {"b_pk": r.invalidate_pk, "b_reason": _fit(r.reason, INVALID_REASON_CHARS), "b_at": now}
        for r in results
        if r.invalidate_pk
    ]
    if invalid:
        await conn.execute(
            update(installations)
            .where(installations.c.pk == bindparam("b_pk"))
            .values(invalidated_at=bindparam("b_at"), invalid_reason=bindparam("b_reason")),
            invalid,
        )
    await _record_engagement(conn, send, command, results, now)
    if retry:
        await queue.enqueue(
            conn, [deliver_job(send_id, [r.delivery_id for r in retry], retry_at(now, retry))]
        )
    elif not await send_store.has_pending(conn, send_id):
        await complete_send(conn, queue, send_id, command.engagement)


async def _record_engagement(
    conn: AsyncConnection,
    send: dict[str, Any],
    command: SendCommand,
    results: list[DeviceResult],
    now: datetime,
) -> None:
    """Inbox items (one per contact) and frequency cap records of what was delivered."""
    # A rendered message goes to the inbox whatever its push outcome: the inbox is
    # the copy that remains when the push is lost.
    rendered = [r for r in results if r.extra.get("contact_pk") and "content" in r.extra]
    inbox = command.engagement.inbox
    if inbox is not None:
        items = {
            r.extra["contact_pk"]: inbox_item(
                send["project_id"],
                r.extra["contact_pk"],
                send["id"],
                r.extra["content"],
                inbox,
                now,
            )
            for r in rendered
        }
        await inbox_store.store_items(conn, list(items.values()))
    labels = command.message.options.labels
    sent = [
        r.extra["contact_pk"] for r in results if r.outcome == "sent" and r.extra.get("contact_pk")
    ]
    if labels and sent:
        await cap_store.record_hits(conn, hits_for(send["id"], labels, sent, now))
