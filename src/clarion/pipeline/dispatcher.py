"""Delivering a batch of a send's devices: content, payload, provider call, recorded outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.domain.errors import DomainError
from clarion.domain.limits import BuiltPayload
from clarion.domain.message import MAX_TTL_SECONDS, LocalizedContent, Message
from clarion.domain.personalize import CompiledContent
from clarion.pipeline import pacing
from clarion.pipeline.caps import capped_contacts, hits_for
from clarion.pipeline.clients import MissingCredentials, ProviderClients
from clarion.pipeline.commands import SendCommand
from clarion.pipeline.fallback import FINISH_PHASE, Finisher, complete_send
from clarion.pipeline.inbox import inbox_item
from clarion.pipeline.jobs import deliver_job
from clarion.pipeline.rendering import (
    compile_command,
    device_from_row,
    provider_of,
    render_for_device,
    select_devices,
)
from clarion.providers.apns import ApnsClient
from clarion.providers.backoff import backoff_delay
from clarion.providers.fcm import FcmClient
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.webpush import WebPushClient
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import caps as cap_store
from clarion.store import inbox as inbox_store
from clarion.store import sends as send_store
from clarion.store.send_tables import deliveries
from clarion.store.tables import installations
from clarion.store.types import utcnow

log = logging.getLogger(__name__)

#: Provider attempts per device before its outcome is recorded as an error.
MAX_DELIVERY_ATTEMPTS = 8


@dataclass(frozen=True)
class _Prepared:
    send_id: str
    command: SendCommand
    compiled: tuple[CompiledContent[LocalizedContent], ...]

    @property
    def message(self) -> Message:
        return self.command.message


@dataclass
class _Result:
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


class Dispatcher:
    """Handler of `deliver` jobs."""

    def __init__(
        self,
        engine: AsyncEngine,
        queue: SqlJobQueue,
        clients: ProviderClients,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.clients = clients
        self._rng = rng or random.Random()
        self._prepared: OrderedDict[str, _Prepared] = OrderedDict()
        # Inbox items of contacts without devices and SMS fallback run after the pushes.
        self.finisher = Finisher(engine, queue)

    async def handle(self, job: Job) -> HandlerResult:
        """Deliver the still-pending devices of the batch and record every outcome."""
        send_id = str(job.payload["send_id"])
        if job.payload.get("phase") == FINISH_PHASE:
            return await self.finisher.run(send_id, job.attempts)
        ids = [int(i) for i in job.payload["delivery_ids"]]
        async with self.engine.connect() as conn:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] == "cancelled":
                return HandlerResult.done()
            rows = await _pending_rows(conn, ids)
            pending = await _still_pending(conn, ids)
        # A device deleted since planning has no row to join: close its delivery.
        gone = [
            _Result(i, "not_found", 0, reason="InstallationDeleted")
            for i in sorted(pending - {r.id for r in rows})
        ]
        if not rows and not gone:
            return HandlerResult.done()
        prepared = self._prepare(send_id, send["request"])
        throttle = prepared.command.engagement.throttle
        if throttle is not None and rows:
            rows = (await pacing.pace(self.queue, send_id, throttle, rows, utcnow())).due
        rows, capped = await self._apply_caps(send, prepared, rows)
        if not rows and not gone and not capped:
            return HandlerResult.done()
        results = [
            *await asyncio.gather(*(self._deliver(prepared, row) for row in rows)),
            *gone,
            *capped,
        ]
        await self.queue.writer.write(lambda conn: self._record(conn, send, prepared, results))
        return HandlerResult.done()

    def _prepare(self, send_id: str, document: dict[str, Any]) -> _Prepared:
        # Parsing and compiling templates once per send, not once per device.
        cached = self._prepared.get(send_id)
        if cached is not None:
            self._prepared.move_to_end(send_id)
            return cached
        command = SendCommand.from_document(document)
        prepared = _Prepared(send_id, command, compile_command(command))
        self._prepared[send_id] = prepared
        if len(self._prepared) > 256:
            self._prepared.popitem(last=False)
        return prepared

    async def _apply_caps(
        self, send: dict[str, Any], prepared: _Prepared, rows: list[Any]
    ) -> tuple[list[Any], list[_Result]]:
        """Split off the devices of contacts over a frequency cap of the send's labels."""
        labels = prepared.message.options.labels
        if not labels or not rows:
            return rows, []
        async with self.engine.connect() as conn:
            capped = await capped_contacts(
                conn,
                send["project_id"],
                send["id"],
                labels,
                [row.contact_pk for row in rows if row.contact_pk is not None],
                utcnow(),
            )
        if not capped:
            return rows, []
        kept = [row for row in rows if row.contact_pk not in capped]
        results = [
            _Result(row.id, "capped", int(row.attempts), reason=f"Cap:{capped[row.contact_pk]}")
            for row in rows
            if row.contact_pk in capped
        ]
        return kept, results

    async def _deliver(self, prepared: _Prepared, row: Any) -> _Result:
        attempts = int(row.attempts) + 1
        result = _Result(row.id, "pending", attempts, first_attempt=row.first_attempt_at is None)
        result.extra["contact_pk"] = row.contact_pk
        provider = provider_of(row.platform)
        if provider is None:
            result.outcome, result.reason = "undeliverable", f"UnsupportedPlatform:{row.platform}"
            return result
        try:
            # A device registered as a development build, or a send asking for the
            # sandbox, goes to APNs' sandbox (unless the app names its own endpoint).
            sandbox = bool(row.sandbox) or prepared.message.options.sandbox
            client, public = await self.clients.get(row.app_pk, provider, sandbox)
            rendered = render_for_device(
                prepared.command,
                prepared.compiled,
                device_from_row(row),
                public,
                send_id=prepared.send_id,
                now=utcnow(),
            )
            result.language = rendered.language
            inbox = prepared.command.engagement.inbox
            if inbox is not None:
                result.extra["content"] = rendered.content
                if inbox.only:
                    result.outcome = "inboxed"
                    return result
            delivery = await self._call(client, rendered.payload, row)
        except MissingCredentials as exc:
            result.outcome, result.reason = "error", exc.reason
            log.warning("delivery %s: %s", row.id, exc)
            return result
        except DomainError as exc:
            result.outcome, result.reason = "error", exc.code
            log.warning("delivery %s: %s", row.id, exc.message)
            return result
        return _apply(result, delivery, row)

    async def _call(self, client: Any, payload: BuiltPayload, row: Any) -> DeliveryResult:
        if isinstance(client, ApnsClient):
            return await client.send(row.token, payload.headers, payload.body)
        if isinstance(client, FcmClient):
            return await client.send(json.loads(payload.body)["message"])
        assert isinstance(client, WebPushClient)
        ttl = int(payload.headers.get("TTL", MAX_TTL_SECONDS))
        return await client.send(
            row.subscription,
            payload.body,
            ttl,
            payload.headers.get("Urgency"),
            payload.headers.get("Topic"),
        )

    async def _record(
        self,
        conn: AsyncConnection,
        send: dict[str, Any],
        prepared: _Prepared,
        results: list[_Result],
    ) -> None:
        send_id = str(send["id"])
        now = utcnow()
        retry: list[_Result] = []
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
                    "b_reason": _clip(result.reason, 128),
                    "b_message_id": result.message_id,
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
            {"b_pk": r.invalidate_pk, "b_reason": _clip(r.reason, 64), "b_at": now}
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
        await _record_engagement(conn, send, prepared, results, now)
        if retry:
            await self.queue.enqueue(
                conn,
                [deliver_job(send_id, [r.delivery_id for r in retry], self._retry_at(now, retry))],
            )
        elif not await send_store.has_pending(conn, send_id):
            await complete_send(conn, self.queue, send_id, prepared.command.engagement)

    def _retry_at(self, now: datetime, retry: list[_Result]) -> datetime:
        attempts = max(r.attempts for r in retry)
        hinted = max((r.retry_after for r in retry if r.retry_after is not None), default=None)
        delay = backoff_delay(attempts, retry_after=hinted, random_fraction=self._rng.random)
        return now + timedelta(seconds=delay)


async def _record_engagement(
    conn: AsyncConnection,
    send: dict[str, Any],
    prepared: _Prepared,
    results: list[_Result],
    now: datetime,
) -> None:
    """Inbox items (one per contact) and frequency cap records of what was delivered."""
    # A rendered message goes to the inbox whatever its push outcome: the inbox is
    # the copy that remains when the push is lost.
    rendered = [r for r in results if r.extra.get("contact_pk") and "content" in r.extra]
    inbox = prepared.command.engagement.inbox
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
    labels = prepared.message.options.labels
    sent = [
        r.extra["contact_pk"] for r in results if r.outcome == "sent" and r.extra.get("contact_pk")
    ]
    if labels and sent:
        await cap_store.record_hits(conn, hits_for(send["id"], labels, sent, now))


def _clip(reason: str | None, size: int) -> str | None:
    # Provider reasons are free text (web push services answer with prose): they must fit
    # their column, or the outcome could never be recorded.
    return reason[:size] if reason is not None else None


def _apply(result: _Result, delivery: DeliveryResult, row: Any) -> _Result:
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


async def _still_pending(conn: AsyncConnection, ids: list[int]) -> set[int]:
    query = select(deliveries.c.id).where(
        deliveries.c.id.in_(ids), deliveries.c.outcome == send_store.PENDING
    )
    return {row.id for row in await conn.execute(query)}


async def _pending_rows(conn: AsyncConnection, ids: list[int]) -> list[Any]:
    query = (
        select_devices(
            deliveries.c.id,
            deliveries.c.attempts,
            deliveries.c.first_attempt_at,
            deliveries.c.scheduled_at,
            deliveries.c.installation_pk,
            installations.c.contact_pk,
            installations.c.sandbox,
            joined_to=deliveries.join(
                installations, deliveries.c.installation_pk == installations.c.pk
            ),
        )
        .where(deliveries.c.id.in_(ids), deliveries.c.outcome == send_store.PENDING)
        .order_by(deliveries.c.id)
    )
    return list(await conn.execute(query))
