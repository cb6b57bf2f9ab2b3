"""Accepting a send: stored with its planning job in one transaction, once per idempotency key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.delivery.jobs import plan_job
from clarion.domain.command import SendCommand
from clarion.domain.schedule import check_schedule, plan_at
from clarion.queue.models import NewJob
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store.audience import check_references
from clarion.store.send_tables import sends
from clarion.store.types import utcnow


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different request."""


@dataclass(frozen=True)
class AcceptedSend:
    """What the caller is told once a send is durable."""

    id: str
    status: str
    recipients: int
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The native API's answer."""
        body: dict[str, Any] = {"id": self.id, "status": self.status, "recipients": self.recipients}
        if self.replayed:
            body["replayed"] = True
        return body


def request_hash(document: Any) -> str:
    """Fingerprint of a request, to tell a true retry from a reused key."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def accept_send(
    engine: AsyncEngine,
    queue: SqlJobQueue,
    project_id: str,
    command: SendCommand,
    *,
    fingerprint: str,
    idempotency_key: str | None = None,
    kind: str = "transactional",
) -> AcceptedSend:
    """Store the send and its planning job before answering; a reused key returns the first.

    A send with `schedule.at` in the future is `scheduled` and planned at that time;
    an instant already past is planned now, as for broadcasts.
    """
    if idempotency_key is not None:
        replay = await _replay(engine, project_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay
    due = command.scheduled_at
    status = "scheduled" if due is not None and due > utcnow() else "accepted"
    send_id = send_store.new_send_id()
    try:
        async with engine.begin() as conn:
            await send_store.insert_send(
                conn, send_id, project_id, kind, command.to_document(), fingerprint, idempotency_key
            )
            if due is not None:
                await conn.execute(
                    update(sends)
                    .where(sends.c.id == send_id)
                    .values(status=status, scheduled_at=due)
                )
            run_at = due if status == "scheduled" else None
            await queue.enqueue(conn, [plan_job(send_id, run_at)])
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer with its send.
        if idempotency_key is None:
            raise
        replay = await _replay(engine, project_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    return AcceptedSend(send_id, status, command.recipients.total())


async def _replay(
    engine: AsyncEngine, project_id: str, key: str, fingerprint: str
) -> AcceptedSend | None:
    async with engine.connect() as conn:
        existing = await send_store.find_by_idempotency_key(conn, project_id, key)
    if existing is None:
        return None
    if existing["request_hash"] != fingerprint:
        raise IdempotencyConflict(key)
    total = SendCommand.from_document(existing["request"]).recipients.total()
    return AcceptedSend(existing["id"], existing["status"], total, replayed=True)


async def accept_broadcast(
    engine: AsyncEngine,
    queue: SqlJobQueue,
    project_id: str,
    command: SendCommand,
    *,
    fingerprint: str,
    idempotency_key: str | None = None,
    kind: str = "broadcast",
) -> AcceptedSend:
    """Store a broadcast and its planning job, due now or at its scheduled time.

    Same signature as `accept_send`, so the send route calls either; sends to explicit
    recipients are scheduled by `accept_send` itself.
    """
    now = utcnow()
    assert command.broadcast is not None
    schedule = command.broadcast.schedule
    if schedule is not None:
        check_schedule(schedule, now)
    due = plan_at(schedule) if schedule is not None else None
    async with engine.connect() as conn:
        await check_references(conn, project_id, command.broadcast)
    status = "scheduled" if due is not None and due > now else "accepted"
    if idempotency_key is not None:
        async with engine.connect() as conn:
            existing = await send_store.find_by_idempotency_key(conn, project_id, idempotency_key)
        if existing is not None:
            if existing["request_hash"] != fingerprint:
                raise IdempotencyConflict(idempotency_key)
            return AcceptedSend(existing["id"], existing["status"], 0, replayed=True)
    send_id = send_store.new_send_id()
    async with engine.begin() as conn:
        await send_store.insert_send(
            conn,
            send_id,
            project_id,
            kind,
            command.to_document(),
            fingerprint,
            idempotency_key,
        )
        await conn.execute(
            update(sends).where(sends.c.id == send_id).values(status=status, scheduled_at=due)
        )
        job = plan_job(send_id)
        await queue.enqueue(
            conn,
            [
                NewJob(
                    job.kind,
                    job.payload,
                    job.send_id,
                    job.priority,
                    due if status == "scheduled" else None,
                )
            ],
        )
    return AcceptedSend(send_id, status, 0)
