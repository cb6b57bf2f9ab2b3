"""A transactional send's recipients made into delivery rows and deliver jobs, in one transaction.

Both the planner (a `plan_send` job) and accept (small sends, planned in the accept
transaction itself) run this on a connection whose transaction they own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.delivery.jobs import DELIVER, DELIVERY_BATCH, deliver_job, finish_job
from clarion.delivery.unplannable import Item, items_of, recipients_of
from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import PLANNABLE_STATUSES, DeliveryOutcome, SendStatus
from clarion.queue.handoff import LocalRunner
from clarion.queue.models import Job, NewJob
from clarion.queue.sql import SqlJobQueue
from clarion.store import deliveries as delivery_rows
from clarion.store import sends as send_store
from clarion.store.plan_pages import batch_payloads
from clarion.store.targeting import insert_single_column, resolve, single_column
from clarion.store.text import storable
from clarion.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedRecipients:
    """What planning made of a send's recipients."""

    targeted: int
    unmatched: int
    #: Deliver jobs created leased to the runner, to hand over after the commit.
    leased: list[Job]


@dataclass(frozen=True)
class ResolvedRecipients:
    """A send's recipients resolved into delivery rows, before anything is written."""

    send_id: str
    targeted: int
    unmatched: int
    rows: list[dict[str, Any]]
    #: Inbox items or SMS fallback follow the pushes (a `finish_send` job when none is due).
    needs_finish: bool

    @property
    def status(self) -> SendStatus:
        """The send's status once its rows are written."""
        pending = any(row["outcome"] == send_store.PENDING for row in self.rows)
        return SendStatus.DELIVERING if pending or self.needs_finish else SendStatus.DONE


async def plan_recipients(
    conn: AsyncConnection,
    queue: SqlJobQueue,
    send_id: str,
    project_id: str,
    command: SendCommand,
    failed: dict[Item, str],
    runner: LocalRunner | None = None,
) -> PlannedRecipients:
    """Insert a delivery row per recipient, queue their deliver jobs and move the send on.

    Recipients in `failed` become `error` rows with their reason instead of being resolved.
    With a `runner` that has room, the deliver jobs are created leased to it: the caller
    hands `leased` to `runner.adopt` once the transaction has committed.
    """
    single = single_column(command.recipients) if runner is None and not failed else None
    if single is not None:
        return await _plan_single_column(conn, queue, send_id, project_id, command, *single)
    resolved = await resolve_recipients(conn, send_id, project_id, command, failed)
    leased = (await write_planned(conn, queue, [resolved], runner))[0]
    await send_store.set_status(
        conn, send_id, resolved.status, only_from=PLANNABLE_STATUSES, targeted=resolved.targeted
    )
    log.debug(
        "send %s planned: %d devices, %d unmatched", send_id, resolved.targeted, resolved.unmatched
    )
    return PlannedRecipients(resolved.targeted, resolved.unmatched, leased)


async def resolve_recipients(
    conn: AsyncConnection,
    send_id: str,
    project_id: str,
    command: SendCommand,
    failed: dict[Item, str],
) -> ResolvedRecipients:
    """The delivery rows of a send's recipients: a device each, or why there is none."""
    recipients = command.recipients
    if failed:
        kept = [item for item in items_of(recipients) if item not in failed]
        recipients = recipients_of(kept, recipients.all_devices)
    targets, unmatched = await resolve(conn, project_id, recipients, command.apps)
    now = utcnow()
    rows = [
        {
            "send_id": send_id,
            "installation_pk": t.installation_pk,
            "app_id": t.app_id,
            "installation_id": t.installation_id,
            "platform": t.platform,
            "recipient_kind": t.recipient_kind,
            "recipient": t.recipient,
            "token": t.token,
            "outcome": DeliveryOutcome.UNDELIVERABLE if t.invalid_reason else send_store.PENDING,
            "provider_reason": t.invalid_reason,
            "attempts": 0,
            "created_at": now,
            "completed_at": now if t.invalid_reason else None,
        }
        for t in targets
    ] + [
        {
            "send_id": send_id,
            # One statement inserts every row, so each row names every column.
            "installation_pk": None,
            "app_id": None,
            "installation_id": None,
            "platform": None,
            "recipient_kind": u.recipient_kind,
            "recipient": u.recipient,
            "token": None,
            "outcome": DeliveryOutcome.NOT_FOUND,
            "provider_reason": None,
            "attempts": 0,
            "created_at": now,
            "completed_at": now,
        }
        for u in unmatched
    ]
    rows += [
        _unplannable_row(send_id, kind, value, reason, now)
        for (kind, value), reason in failed.items()
    ]
    return ResolvedRecipients(
        send_id, len(targets), len(unmatched), rows, command.engagement.needs_finish
    )


async def write_planned(
    conn: AsyncConnection,
    queue: SqlJobQueue,
    planned: Sequence[ResolvedRecipients],
    runner: LocalRunner | None = None,
) -> list[list[Job]]:
    """Insert the delivery rows of sends and their jobs; the jobs leased to `runner`, per send.

    Every send's rows go into one statement, and every send's jobs into another: the
    cost of a statement is paid once for many small sends planned together.
    """
    rows = [row for send in planned for row in send.rows]
    inserted = await delivery_rows.insert_deliveries(conn, rows)
    to_lease: list[NewJob] = []
    to_queue: list[NewJob] = []
    start = 0
    for send in planned:
        mine = inserted[start : start + len(send.rows)]
        start += len(send.rows)
        pending_ids = sorted(r.id for r in mine if r.outcome == send_store.PENDING)
        new_jobs = [
            deliver_job(send.send_id, pending_ids[i : i + DELIVERY_BATCH])
            for i in range(0, len(pending_ids), DELIVERY_BATCH)
        ]
        if runner is not None and new_jobs and runner.has_room(DELIVER):
            to_lease += new_jobs
        else:
            to_queue += new_jobs
        if not pending_ids and send.needs_finish:
            # Inbox items and SMS fallback run after the pushes, even when there is none.
            to_queue.append(finish_job(send.send_id))
    await queue.enqueue(conn, to_queue)
    leased: dict[str, list[Job]] = {}
    if runner is not None and to_lease:
        for job in await queue.enqueue_leased(conn, to_lease, runner):
            leased.setdefault(job.send_id or "", []).append(job)
    return [leased.get(send.send_id, []) for send in planned]


async def _plan_single_column(
    conn: AsyncConnection,
    queue: SqlJobQueue,
    send_id: str,
    project_id: str,
    command: SendCommand,
    kind: str,
    values: Sequence[str],
) -> PlannedRecipients:
    """Plan a list naming devices by one column with a few set-based statements.

    The rows and the deliver jobs' payloads are made in the database, so planning
    thousands of devices costs a handful of statements instead of a Python object and
    a bound parameter set per device.
    """
    inserted = await insert_single_column(
        conn, send_id, project_id, kind, values, command.apps, utcnow()
    )
    payloads = batch_payloads(conn.dialect.name, send_id, 0, DELIVERY_BATCH)
    made = await conn.execute(queue.insert_selected(DELIVER, send_id, payloads))
    if made.rowcount:
        await queue.announce(conn)
    pending = bool(made.rowcount)
    needs_finish = command.engagement.needs_finish
    status = SendStatus.DELIVERING if pending or needs_finish else SendStatus.DONE
    await send_store.set_status(
        conn, send_id, status, only_from=PLANNABLE_STATUSES, targeted=inserted.targeted
    )
    if not pending and needs_finish:
        await queue.enqueue(conn, [finish_job(send_id)])
    log.debug(
        "send %s planned: %d devices, %d unmatched", send_id, inserted.targeted, inserted.unmatched
    )
    return PlannedRecipients(inserted.targeted, inserted.unmatched, [])


def _unplannable_row(
    send_id: str, kind: str, value: str, reason: str, now: datetime
) -> dict[str, Any]:
    """The trail row of a recipient that could not be planned (its value made storable)."""
    return {
        "send_id": send_id,
        "installation_pk": None,
        "app_id": None,
        "installation_id": None,
        "platform": None,
        "recipient_kind": kind,
        "recipient": storable(value),
        "token": None,
        "outcome": DeliveryOutcome.ERROR,
        "provider_reason": reason,
        "attempts": 0,
        "created_at": now,
        "completed_at": now,
    }
