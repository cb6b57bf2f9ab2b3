"""Ending what a given-up job was doing, so that every send reaches a final status.

The worker calls these hooks once a job will not run again (its attempts are spent, or
its workers kept dying under it):

- planning given up: the send is `failed`; its deliveries still pending are `error`;
- a delivery batch given up: the batch's pending deliveries are `error`, and the send
  ends `done` as usual once nothing else is pending;
- the last phase (inbox, SMS fallback) given up: the send is `done`.

In each case the send's `error` says which stage gave up and why. The hooks may run
more than once for one job (the worker retries them after a database outage), so
each only moves what is still open.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.delivery.finish import complete_send
from clarion.delivery.planner import PLANNABLE
from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import FINAL_STATUSES, SendStatus
from clarion.queue.models import Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import deliveries as delivery_rows
from clarion.store import sends as send_store
from clarion.store.text import storable

#: Longest reason kept on a send.
ERROR_CHARS = 1000


class SendEndings:
    """The `on_exhausted` hooks of delivery's job kinds."""

    def __init__(self, queue: SqlJobQueue) -> None:
        self.queue = queue

    async def planning_given_up(self, job: Job, error: str) -> None:
        """A send that could not be planned is `failed`; what was planned and pending is `error`."""
        send_id = _send_id(job)
        reason = storable(f"planning: {error}", ERROR_CHARS)

        async def end(conn: AsyncConnection) -> None:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] not in PLANNABLE:
                # Planned after all (the job died after committing), or cancelled.
                return
            await delivery_rows.error_pending(conn, send_id, None, reason)
            await send_store.set_status(
                conn, send_id, SendStatus.FAILED, only_from=PLANNABLE, error=reason
            )

        await self.queue.run_in_transaction(end)

    async def finishing_given_up(self, job: Job, error: str) -> None:
        """A last step given up still ends the send: `done`, with the reason in `error`."""
        send_id = _send_id(job)
        reason = storable(f"finishing: {error}", ERROR_CHARS)
        await self.queue.run_in_transaction(
            lambda conn: send_store.set_status(
                conn, send_id, "done", only_from=("delivering",), error=reason
            )
        )

    async def delivery_given_up(self, job: Job, error: str) -> None:
        """The batch's pending deliveries are `error`; the send ends once nothing is pending."""
        send_id = _send_id(job)
        reason = storable(f"delivery: {error}", ERROR_CHARS)
        ids = [int(i) for i in job.payload.get("delivery_ids", [])]

        async def end(conn: AsyncConnection) -> None:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] in FINAL_STATUSES:
                return
            await delivery_rows.error_pending(conn, send_id, ids, reason)
            await send_store.set_error_once(conn, send_id, reason)
            if send["status"] != SendStatus.DELIVERING or await send_store.has_pending(
                conn, send_id
            ):
                return
            try:
                engagement = SendCommand.from_document(send["request"]).engagement
            except Exception:
                # The stored request is what failed: no last phase can run from it either.
                await send_store.set_status(
                    conn, send_id, SendStatus.DONE, only_from=(SendStatus.DELIVERING,)
                )
                return
            await complete_send(conn, self.queue, send_id, engagement)

        await self.queue.run_in_transaction(end)


def _send_id(job: Job) -> str:
    return str(job.send_id or job.payload["send_id"])
