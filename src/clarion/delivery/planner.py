"""Planning a send: recipients or a broadcast audience become delivery rows and delivery jobs.

A transactional send is planned in one transaction. A broadcast is planned page by
page (keyset on installation pk); a page's delivery rows are made in the database by an
INSERT … SELECT from the audience query, so no device passes through Python. Each page's
deliveries, their jobs and the send's `plan_cursor` commit together, so a planner stopped
between pages resumes after the last committed page without planning any device twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.delivery.finish import complete_send
from clarion.delivery.jobs import DELIVER, DELIVERY_BATCH, finish_job
from clarion.delivery.recipient_plan import plan_recipients
from clarion.delivery.unplannable import Item, unplannable
from clarion.domain.command import SendCommand
from clarion.domain.schedule import LocalTimes, Timing
from clarion.domain.vocabulary import PLANNABLE_STATUSES, DeliveryOutcome, SendStatus
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import deliveries as delivery_rows
from clarion.store import sends as send_store
from clarion.store.audience import (
    AudienceGone,
    PageRows,
    PageScope,
    insert_page,
    next_page,
    page_zones,
    resolve_audience,
)
from clarion.store.delivery_batches import batch_payloads, last_delivery_id
from clarion.store.text import describe
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

#: Installations planned per transaction of a broadcast. A page is one INSERT … SELECT,
#: so a large page costs the lock little; few pages keep a planner that shares its
#: event loop with busy deliveries from waiting on it thousands of times.
PAGE_SIZE = 5000
#: Statuses from which a send may still be planned.
PLANNABLE = PLANNABLE_STATUSES


class Planner:
    """Handler of `plan_send` jobs."""

    def __init__(
        self,
        engine: AsyncEngine,
        queue: SqlJobQueue,
        page_size: int = PAGE_SIZE,
        batch_size: int = DELIVERY_BATCH,
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.page_size = page_size
        self.batch_size = batch_size

    async def handle(self, job: Job) -> HandlerResult:
        """Resolve the send's recipients (or audience, page by page) and enqueue its deliveries."""
        send_id = str(job.payload["send_id"])
        async with self.engine.connect() as conn:
            send = await send_store.get_send(conn, send_id)
        if send is None or send["status"] not in PLANNABLE:
            # Cancelled, or planned by an earlier run of this job that committed.
            return HandlerResult.done()
        if send["request"].get("broadcast") is None:
            await self._plan_transactional(send_id)
            return HandlerResult.done()
        while await self.plan_page(send_id):
            pass
        await self._finish_if_nothing_pending(send_id)
        return HandlerResult.done()

    async def plan_page(self, send_id: str) -> bool:
        """Plan the next page of a broadcast; tell whether pages may remain."""
        # On SQLite the page joins the queue's group commit instead of queueing for the lock.
        return await self.queue.run_in_transaction(lambda conn: self._plan_page_in(conn, send_id))

    async def _plan_page_in(self, conn: AsyncConnection, send_id: str) -> bool:
        send = await send_store.get_send(conn, send_id)
        if send is None or send["status"] not in PLANNABLE:
            return False
        command = SendCommand.from_document(send["request"])
        assert command.broadcast is not None
        now = utcnow()
        try:
            resolved = await resolve_audience(conn, send["project_id"], command.broadcast)
        except AudienceGone as exc:
            await send_store.set_status(
                conn, send_id, SendStatus.DONE, only_from=PLANNABLE, error=f"{exc.field}: {exc}"
            )
            return False
        cursor = int(send["plan_cursor"] or 0)
        scope = PageScope(send["project_id"], resolved, command.apps, now)
        page = await next_page(conn, scope, cursor, self.page_size)
        if page is None:
            pending = await send_store.has_pending(conn, send_id)
            needs_finish = command.engagement.needs_finish
            status = SendStatus.DELIVERING if pending or needs_finish else SendStatus.DONE
            await send_store.set_status(conn, send_id, status, only_from=PLANNABLE)
            if not pending and needs_finish:
                await self.queue.enqueue(conn, [finish_job(send_id)])
            log.info("broadcast %s planned: %d devices", send_id, send["targeted"])
            return False
        if not await delivery_rows.claim_page(
            conn, send_id, PLANNABLE, cursor, page.last_pk, page.count
        ):
            # Another run of this job planned the page (or the send was cancelled).
            return False
        made = 0
        for rows, run_at in await _page_groups(conn, scope, send_id, cursor, page.last_pk):
            before = await last_delivery_id(conn)
            inserted = await insert_page(conn, scope, rows)
            made += inserted
            if inserted and rows.outcome == send_store.PENDING:
                payloads = batch_payloads(conn.dialect.name, send_id, before, self.batch_size)
                await self.queue.enqueue_select(conn, DELIVER, send_id, payloads, run_at)
        if made != page.count:
            # A device registered or changed between the two reads of this page (PostgreSQL
            # reads each statement afresh): the count follows the rows actually made.
            await delivery_rows.add_targeted(conn, send_id, made - page.count)
        return True

    async def _finish_if_nothing_pending(self, send_id: str) -> None:
        # Deliveries of earlier pages may all have finished while the send was still
        # planning, when no delivery job may mark it done: the planner does it then.
        async with self.engine.begin() as conn:
            if await delivery_rows.none_pending_locked(conn, send_id):
                send = await send_store.get_send(conn, send_id)
                if send is not None:
                    engagement = SendCommand.from_document(send["request"]).engagement
                    await complete_send(conn, self.queue, send_id, engagement)

    async def _plan_transactional(self, send_id: str) -> None:
        """Plan every recipient; one that cannot be planned becomes an `error` row of its own."""
        try:
            await self._plan_recipients(send_id, {})
        except Exception as exc:
            async with self.engine.connect() as conn:
                send = await send_store.get_send(conn, send_id)
            if send is None:
                raise
            command = SendCommand.from_document(send["request"])
            failed = await unplannable(
                self.engine, send["project_id"], command.recipients, command.apps
            )
            if not failed:
                raise
            log.warning(
                "send %s: %d recipients cannot be planned (%s); planning the others",
                send_id,
                len(failed),
                describe(exc),
            )
            await self._plan_recipients(send_id, failed)

    async def _plan_recipients(self, send_id: str, failed: dict[Item, str]) -> None:
        async with self.engine.begin() as conn:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] not in PLANNABLE:
                return
            command = SendCommand.from_document(send["request"])
            planned = await plan_recipients(
                conn, self.queue, send_id, send["project_id"], command, failed
            )
        log.info(
            "send %s planned: %d devices, %d unmatched",
            send_id,
            planned.targeted,
            planned.unmatched,
        )


async def _page_groups(
    conn: AsyncConnection, scope: PageScope, send_id: str, cursor: int, last_pk: int
) -> list[tuple[PageRows, datetime | None]]:
    """The inserts a page takes: one, or one per delivery time of a local-time send."""
    schedule = scope.resolved.broadcast.schedule
    if schedule is None or schedule.local_time is None:
        return [(PageRows(send_id, cursor, last_pk, send_store.PENDING), None)]
    times = LocalTimes(schedule, scope.now)
    zones_at: dict[Timing, list[str | None]] = {}
    for zone in await page_zones(conn, scope, cursor, last_pk):
        zones_at.setdefault(times.timing(zone), []).append(zone)
    groups = []
    for timing, zones in zones_at.items():
        if timing.skipped:
            rows = PageRows(
                send_id,
                cursor,
                last_pk,
                DeliveryOutcome.SKIPPED,
                zones,
                "LocalTimePassed",
                scope.now,
            )
        else:
            rows = PageRows(send_id, cursor, last_pk, send_store.PENDING, zones)
        groups.append((rows, timing.run_at))
    return groups
