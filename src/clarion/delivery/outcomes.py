"""Outcomes of delivery attempts: what one device's attempt came to, and their recording."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.delivery.caps import hits_for
from clarion.delivery.finish import complete_send
from clarion.delivery.inbox import inbox_item
from clarion.delivery.jobs import deliver_job
from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import DeliveryOutcome
from clarion.providers.result import DeliveryResult, Outcome
from clarion.queue.sql import SqlJobQueue
from clarion.store import caps as cap_store
from clarion.store import deliveries as delivery_rows
from clarion.store import inbox as inbox_store
from clarion.store import sends as send_store
from clarion.store.deliveries import OutcomeRow
from clarion.store.group_commit import before_commit
from clarion.store.types import utcnow

#: Provider attempts per device before its outcome is recorded as an error.
MAX_DELIVERY_ATTEMPTS = 8

RetryAt = Callable[[datetime, list["DeviceResult"]], datetime]


@dataclass
class DeviceResult:
    """What one device's attempt came to; `pending` means it is tried again later."""

    delivery_id: int
    outcome: DeliveryOutcome
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
        result.outcome = DeliveryOutcome.SENT
    elif delivery.outcome is Outcome.INVALID_TOKEN:
        result.outcome = DeliveryOutcome.UNDELIVERABLE
        result.invalidate_pk = int(row.installation_pk)
    elif delivery.outcome is Outcome.FAILED or result.attempts >= MAX_DELIVERY_ATTEMPTS:
        result.outcome = DeliveryOutcome.ERROR
    else:
        result.retry_after = delivery.retry_after
    return result


@dataclass(frozen=True)
class SendOutcomes:
    """One send's results of a delivery batch, as `record_many` records them."""

    send: dict[str, Any]
    command: SendCommand
    results: list[DeviceResult]


async def record_outcomes(
    conn: AsyncConnection,
    queue: SqlJobQueue,
    send: dict[str, Any],
    command: SendCommand,
    results: list[DeviceResult],
    retry_at: RetryAt,
) -> None:
    """Record a batch's outcomes; requeue the devices to retry, or complete the send."""
    await record_many(conn, queue, [SendOutcomes(send, command, results)], retry_at)


async def record_many(
    conn: AsyncConnection, queue: SqlJobQueue, batches: Sequence[SendOutcomes], retry_at: RetryAt
) -> None:
    """Record the outcomes of several sends' batches at once, then move each send on.

    One write of every device's outcome; then, per send, its devices to retry are
    requeued, or it is completed.
    """
    now = utcnow()
    results = [r for batch in batches for r in batch.results]
    await delivery_rows.write_outcomes(
        conn,
        [
            OutcomeRow(
                r.delivery_id,
                r.outcome,
                r.attempts,
                final=r.outcome != DeliveryOutcome.PENDING,
                status=r.status,
                reason=r.reason,
                message_id=r.message_id,
                language=r.language,
                first_attempt=r.first_attempt,
            )
            for r in results
        ],
        now,
    )
    await delivery_rows.invalidate_installations(
        conn, [(r.invalidate_pk, r.reason) for r in results if r.invalidate_pk], now
    )
    ending: list[tuple[str, SendCommand]] = []
    for batch in batches:
        send_id = str(batch.send["id"])
        command = batch.command
        await _record_engagement(conn, batch.send, command, batch.results, now)
        retry = [r for r in batch.results if r.outcome == DeliveryOutcome.PENDING]
        if retry:
            await queue.enqueue(
                conn, [deliver_job(send_id, [r.delivery_id for r in retry], retry_at(now, retry))]
            )
        else:
            ending.append((send_id, command))
    if not ending:
        return
    if conn.dialect.name != "postgresql":
        # One writer at a time: what is pending now is what the commit leaves.
        await _settle_sends(conn, queue, ending)
        return
    for send_id, command in ending:
        # Once per send and group of writes, after every batch of the group is written.
        settle = partial(_settle_sends, queue=queue, ending=[(send_id, command)])
        await before_commit(conn, f"send:{send_id}", settle)


async def _settle_sends(
    conn: AsyncConnection, queue: SqlJobQueue, ending: Sequence[tuple[str, SendCommand]]
) -> None:
    """End the sends none of whose deliveries is pending any more."""
    for send_id, _ in ending:
        await send_store.lock_for_settling(conn, send_id)
    plain = [send_id for send_id, command in ending if not command.engagement.needs_finish]
    if plain:
        # One statement (a round of it for several): done if nothing is pending any more.
        await send_store.done_when_settled(conn, *plain)
    for send_id, command in ending:
        if command.engagement.needs_finish and not await send_store.has_pending(conn, send_id):
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
    inbox = command.engagement.inbox
    if inbox is not None:
        rendered = [r for r in results if r.extra.get("contact_pk") and "content" in r.extra]
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
    if not labels:
        return
    sent = [
        r.extra["contact_pk"]
        for r in results
        if r.outcome == DeliveryOutcome.SENT and r.extra.get("contact_pk")
    ]
    if sent:
        await cap_store.record_hits(conn, hits_for(send["id"], labels, sent, now))
    # A cap counted before sending is given back when none of the contact's devices got it.
    unsent = [
        r.extra["contact_pk"]
        for r in results
        if r.outcome != DeliveryOutcome.SENT and r.extra.get("contact_pk")
    ]
    if unsent:
        await cap_store.release_unsent(conn, send["id"], unsent)
