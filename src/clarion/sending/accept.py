"""Accepting a send: stored, and planned or given its planning job, once per idempotency key."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.delivery.jobs import HandedSend, plan_job
from clarion.delivery.recipient_plan import resolve_recipients, write_planned
from clarion.domain.command import SendCommand, canonical_json
from clarion.domain.schedule import check_schedule, plan_at
from clarion.domain.vocabulary import SendStatus
from clarion.queue.models import Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store.audience import check_references
from clarion.store.prepared import savepoint
from clarion.store.text import describe
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

#: Most recipients a send may have to be planned in its accept transaction; larger
#: sends are planned by a job, so that an accept never holds the writer for long.
INLINE_PLAN_LIMIT = 100


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
    return canonical_hash(canonical_json(document))


def canonical_hash(canonical: str) -> str:
    """The fingerprint of a request already written as `canonical_json`."""
    return hashlib.sha256(canonical.encode()).hexdigest()


async def accept(
    engine: AsyncEngine,
    queue: SqlJobQueue,
    project_id: str,
    command: SendCommand,
    *,
    fingerprint: str,
    idempotency_key: str | None = None,
    kind: str | None = None,
) -> AcceptedSend:
    """Store a send (planned, or with its planning job) before answering; a reused key replays.

    A send due later (`schedule.at`, or a broadcast's schedule) is `scheduled` and
    planned then; one whose time has already come is planned now. `kind` defaults to
    `broadcast` for audience sends and `transactional` otherwise.
    """
    now = utcnow()
    if command.broadcast is not None:
        schedule = command.broadcast.schedule
        if schedule is not None:
            check_schedule(schedule, now)
        due = plan_at(schedule) if schedule is not None else None
        async with engine.connect() as conn:
            await check_references(conn, project_id, command.broadcast)
    else:
        due = command.scheduled_at
    if kind is None:
        kind = "broadcast" if command.broadcast is not None else "transactional"
    if idempotency_key is not None:
        replay = await _replay(engine, project_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay
    status = SendStatus.SCHEDULED if due is not None and due > now else SendStatus.ACCEPTED
    send_id = send_store.new_send_id()
    document = command.to_document()
    new_send = send_store.NewSend(
        send_id, project_id, kind, document, fingerprint, idempotency_key, status, 0, due
    )
    runner = queue.local

    async def store(conn: AsyncConnection) -> list[Job]:
        await send_store.insert_sends(conn, [new_send])
        run_at = due if status == SendStatus.SCHEDULED else None
        await queue.enqueue(conn, [plan_job(send_id, run_at)])
        return []

    try:
        # On SQLite this joins the queue's group commit: concurrent accepts share one
        # transaction and one sync, and never wait on each other for the write lock.
        if status == SendStatus.ACCEPTED and _plans_inline(command):
            leased = await queue.run_batched(_store_planned, _Inline(new_send, command, queue))
        else:
            leased = await queue.run_in_transaction(store)
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer with its send.
        if idempotency_key is None:
            raise
        replay = await _replay(engine, project_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    if leased and runner is not None:
        # Durable now: this process's worker starts them without a claim round trip,
        # and without reading back the send it was just handed.
        send = {
            "id": send_id,
            "project_id": project_id,
            "kind": kind,
            "status": SendStatus.DELIVERING,
            "request": document,
        }
        handed = HandedSend(send, command)
        runner.adopt([replace(job, context=handed) for job in leased])
    return AcceptedSend(send_id, status, command.recipients.total())


def _plans_inline(command: SendCommand) -> bool:
    """Whether a send due now is small enough to plan in its accept transaction."""
    return command.broadcast is None and command.recipients.total() <= INLINE_PLAN_LIMIT


@dataclass(frozen=True, slots=True)
class _Inline:
    """A send due now, to store and plan in the accept transaction."""

    send: send_store.NewSend
    command: SendCommand
    queue: SqlJobQueue


async def _store_planned(conn: AsyncConnection, items: Sequence[_Inline]) -> list[list[Job]]:
    """Store sends already planned: their rows, deliver jobs and final status, together.

    The sends of one group commit are written with a statement per table. If planning
    fails, the sends are stored with their planning jobs instead (which isolate the
    recipients that cannot be planned): the accept itself must not fail for them.
    """
    queue = items[0].queue
    duplicate = False
    try:
        async with savepoint(conn):
            planned = [
                await resolve_recipients(conn, item.send.id, item.send.project_id, item.command, {})
                for item in items
            ]
            try:
                await send_store.insert_sends(
                    conn,
                    [
                        replace(item.send, status=plan.status, targeted=plan.targeted)
                        for item, plan in zip(items, planned, strict=True)
                    ],
                )
            except IntegrityError:
                duplicate = True
                raise
            return await write_planned(conn, queue, planned, queue.local)
    except Exception as exc:
        if duplicate:
            # An idempotency key already used: the caller answers with the first send.
            raise
        log.info(
            "sends %s are planned by their jobs: %s",
            ", ".join(item.send.id for item in items),
            describe(exc),
        )
    await send_store.insert_sends(conn, [item.send for item in items])
    await queue.enqueue(conn, [plan_job(item.send.id, None) for item in items])
    return [[] for _ in items]


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
    # The first answer's status, not the send's current one: a replay repeats that answer.
    scheduled = (
        existing["scheduled_at"] is not None and existing["scheduled_at"] > existing["created_at"]
    )
    first = SendStatus.SCHEDULED if scheduled else SendStatus.ACCEPTED
    return AcceptedSend(existing["id"], first, total, replayed=True)
