"""Planning a send: recipients or a broadcast audience become delivery rows and delivery jobs.

A transactional send is planned in one transaction. A broadcast is planned page by
page (keyset on installation pk); a page's delivery rows are made in the database by an
INSERT … SELECT from the audience query, and its deliver jobs by an INSERT … SELECT from
those rows, so no device passes through Python. Each page's deliveries, their jobs and
the send's `plan_cursor` commit together, so a planner stopped between pages resumes
after the last committed page without planning any device twice. Deliveries start as
soon as the first page commits.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.delivery.finish import complete_send
from clarion.delivery.jobs import DELIVERY_BATCH, finish_job
from clarion.delivery.page_writer import PagePlan, PageWritten, Written, write_page
from clarion.delivery.recipient_plan import plan_recipients
from clarion.delivery.unplannable import Item, unplannable
from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import PLANNABLE_STATUSES, SendStatus
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import deliveries as delivery_rows
from clarion.store import sends as send_store
from clarion.store.audience import AudienceGone, PageScope, next_page, resolve_audience
from clarion.store.engine import sqlite_thread_engine
from clarion.store.text import describe
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

#: Installations planned per transaction of a broadcast. A page is a few set-based
#: statements (about 0.1 s of SQLite's write lock for 20,000 devices), so a large page
#: costs the lock little, and a million devices take only 50 transactions.
PAGE_SIZE = 20_000
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
        # On a SQLite file, pages are written from a thread of their own.
        self._thread_engine = sqlite_thread_engine(engine)

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
        plan = await self.page_plan(send_id)
        while plan is not None:
            plan = await self.plan(plan)
        await self._finish_if_nothing_pending(send_id)
        return HandlerResult.done()

    async def plan_page(self, send_id: str) -> bool:
        """Plan the next page of a broadcast; tell whether pages may remain."""
        plan = await self.page_plan(send_id)
        return plan is not None and await self.plan(plan) is not None

    async def page_plan(self, send_id: str) -> PagePlan | None:
        """The send's next page to plan; None when it may not be planned (any more)."""
        async with self.engine.connect() as conn:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] not in PLANNABLE:
                return None
            command = SendCommand.from_document(send["request"])
            assert command.broadcast is not None
            try:
                resolved = await resolve_audience(conn, send["project_id"], command.broadcast)
            except AudienceGone as exc:
                resolved = None
                error = f"{exc.field}: {exc}"
        if resolved is None:
            await self._end_gone(send_id, error)
            return None
        scope = PageScope(send["project_id"], resolved, command.apps, utcnow())
        cursor = int(send["plan_cursor"] or 0)
        return PagePlan(send_id, cursor, scope, self.page_size, self.batch_size)

    async def plan(self, plan: PagePlan) -> PagePlan | None:
        """Write the page `plan` names; return the next one, None when no page is left.

        The send and its audience are read once, not per page: each page re-checks in
        its own transaction what may have changed (status, cursor, lists).
        """
        written = await self._write(plan)
        if written.state is Written.PLANNED:
            scope = replace(plan.scope, now=utcnow())
            return replace(plan, cursor=written.last_pk, scope=scope)
        if written.state is Written.GONE:
            assert written.error is not None
            await self._end_gone(plan.send_id, written.error)
            return None
        ended = written.state is Written.END
        if ended and await self.queue.run_in_transaction(lambda conn: self._end_in(conn, plan)):
            # Devices registered since the end was first seen: they are planned too.
            return await self.page_plan(plan.send_id)
        return None

    async def _end_gone(self, send_id: str, error: str) -> None:
        await self.queue.run_in_transaction(
            lambda conn: send_store.set_status(
                conn, send_id, SendStatus.DONE, only_from=PLANNABLE, error=error
            )
        )

    async def _write(self, plan: PagePlan) -> PageWritten:
        if self._thread_engine is None:
            return await self.queue.run_in_transaction(lambda conn: self._write_in(conn, plan))
        written = await asyncio.to_thread(self._write_in_thread, plan)
        if written.jobs:
            self.queue.wake()
        if self.queue.writer.waiting:
            # SQLite's lock is not fair: the queue's writer commits what waits for it
            # (outcomes, accepted sends) before the next page may take the lock again.
            await self.queue.run_in_transaction(_nothing)
        return written

    async def _write_in(self, conn: AsyncConnection, plan: PagePlan) -> PageWritten:
        written = await conn.run_sync(write_page, plan, self.queue.insert_selected)
        if written.jobs:
            await self.queue.announce(conn)
        return written

    def _write_in_thread(self, plan: PagePlan) -> PageWritten:
        assert self._thread_engine is not None
        with self._thread_engine.begin() as conn:
            return write_page(conn, plan, self.queue.insert_selected)

    async def _end_in(self, conn: AsyncConnection, plan: PagePlan) -> bool:
        """Mark the send planned once no device is left after the cursor; False when done."""
        send = await send_store.get_send(conn, plan.send_id)
        if (
            send is None
            or send["status"] not in PLANNABLE
            or int(send["plan_cursor"] or 0) != plan.cursor
        ):
            return False
        if await conn.run_sync(next_page, plan.scope, plan.cursor, 1) is not None:
            # A device registered since the page was read: it is planned next.
            return True
        pending = await send_store.has_pending(conn, plan.send_id)
        needs_finish = SendCommand.from_document(send["request"]).engagement.needs_finish
        status = SendStatus.DELIVERING if pending or needs_finish else SendStatus.DONE
        await send_store.set_status(conn, plan.send_id, status, only_from=PLANNABLE)
        if not pending and needs_finish:
            await self.queue.enqueue(conn, [finish_job(plan.send_id)])
        log.info("broadcast %s planned: %d devices", plan.send_id, send["targeted"])
        return False

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


async def _nothing(conn: AsyncConnection) -> None:
    return None
