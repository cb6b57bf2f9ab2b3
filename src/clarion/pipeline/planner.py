"""Planning a send: recipients become delivery rows and delivery jobs, in one transaction."""

from __future__ import annotations

import logging

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.pipeline.commands import SendCommand
from clarion.pipeline.jobs import DELIVERY_BATCH, deliver_job
from clarion.pipeline.targeting import resolve
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store.send_tables import deliveries
from clarion.store.types import utcnow

log = logging.getLogger(__name__)


class Planner:
    """Handler of `plan_send` jobs."""

    def __init__(self, engine: AsyncEngine, queue: SqlJobQueue) -> None:
        self.engine = engine
        self.queue = queue

    async def handle(self, job: Job) -> HandlerResult:
        """Resolve the send's recipients and enqueue its deliveries."""
        send_id = str(job.payload["send_id"])
        async with self.engine.begin() as conn:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] not in ("accepted", "planning"):
                # Cancelled, or planned by an earlier run of this job that committed.
                return HandlerResult.done()
            command = SendCommand.from_document(send["request"])
            targets, unmatched = await resolve(
                conn, send["project_id"], command.recipients, command.apps
            )
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
                    "outcome": "undeliverable" if t.invalid_reason else send_store.PENDING,
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
                    "outcome": "not_found",
                    "provider_reason": None,
                    "attempts": 0,
                    "created_at": now,
                    "completed_at": now,
                }
                for u in unmatched
            ]
            pending_ids: list[int] = []
            if rows:
                result = await conn.execute(
                    insert(deliveries).returning(deliveries.c.id, deliveries.c.outcome), rows
                )
                pending_ids = [r.id for r in result if r.outcome == send_store.PENDING]
            pending_ids.sort()
            jobs = [
                deliver_job(send_id, pending_ids[i : i + DELIVERY_BATCH])
                for i in range(0, len(pending_ids), DELIVERY_BATCH)
            ]
            await self.queue.enqueue(conn, jobs)
            status = "delivering" if pending_ids else "done"
            await send_store.set_status(
                conn, send_id, status, only_from=("accepted", "planning"), targeted=len(targets)
            )
        log.info("send %s planned: %d devices, %d unmatched", send_id, len(targets), len(unmatched))
        return HandlerResult.done()
