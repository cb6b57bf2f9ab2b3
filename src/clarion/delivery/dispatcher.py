"""Delivering a batch of a send's devices: content, payload, provider call, recorded outcome.

One device's failure is its own: whatever goes wrong while rendering, building or
sending for a device becomes that device's `error` outcome, so the rest of its batch
is recorded and never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.delivery import pacing
from clarion.delivery.caps import reserve_caps
from clarion.delivery.clients import MissingCredentials, ProviderClients
from clarion.delivery.jobs import HandedSend
from clarion.delivery.observe import BatchObserver
from clarion.delivery.outcomes import (
    DeviceResult,
    SendOutcomes,
    apply_answer,
    record_many,
    record_outcomes,
)
from clarion.delivery.rendering import RenderMemo, compile_command, render_for_device
from clarion.domain.command import SendCommand
from clarion.domain.errors import DomainError
from clarion.domain.limits import BuiltPayload
from clarion.domain.message import LocalizedContent, Message
from clarion.domain.personalize import CompiledContent
from clarion.domain.vocabulary import PLATFORM_PROVIDER, DeliveryOutcome, SendStatus
from clarion.providers.result import DeliveryResult
from clarion.providers.transport import Address, Transport
from clarion.queue.backoff import Backoff
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import caps as cap_store
from clarion.store import sends as send_store
from clarion.store.deliveries import REASON_CHARS
from clarion.store.devices import device_from_row, pending_rows
from clarion.store.text import describe
from clarion.store.types import utcnow

log = logging.getLogger(__name__)


#: Longest error a job failed by the dispatcher keeps.
JOB_ERROR_CHARS = 2000
#: Backoff of devices whose provider answered with a transient error.
DEVICE_RETRY = Backoff(base=1.0, cap=600.0)


@dataclass(frozen=True)
class _Prepared:
    send_id: str
    command: SendCommand
    compiled: tuple[CompiledContent[LocalizedContent], ...]
    #: Whether the send asks for the APNs sandbox for every device.
    sandbox: bool = False

    @property
    def message(self) -> Message:
        return self.command.message


ClientKey = tuple[int, str, bool]


@dataclass
class _Group:
    """The devices of a batch that one provider client sends, with their built requests."""

    client: Transport
    waiting: list[tuple[_Batch, Any, DeviceResult]] = field(default_factory=list)
    items: list[tuple[Address, BuiltPayload]] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    """What every device of one batch shares: its send, clock, built requests and clients."""

    prepared: _Prepared
    now: datetime
    memo: RenderMemo
    clients: dict[ClientKey, tuple[Transport, dict[str, Any]] | Exception]


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
        self.observer = BatchObserver()

    async def handle(self, job: Job) -> HandlerResult:
        """Deliver the still-pending devices of the batch and record every outcome."""
        send_id = str(job.payload["send_id"])
        ids = [int(i) for i in job.payload["delivery_ids"]]
        handed = job.context if isinstance(job.context, HandedSend) else None
        # A send's request never changes: once parsed, only its status is read again.
        cached = self._prepared.get(send_id)
        send: dict[str, Any] | None
        async with self.engine.connect() as conn:
            if handed is not None:
                send = handed.send
            elif cached is not None:
                send = await send_store.get_send_head(conn, send_id)
            else:
                send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] == SendStatus.CANCELLED:
                return HandlerResult.done()
            found = await pending_rows(conn, ids)
        rows = [row for row in found if row.present]
        gone = _gone(found)
        if not rows and not gone:
            return HandlerResult.done()
        if cached is not None:
            self._prepared.move_to_end(send_id)
            prepared = cached
        else:
            prepared = self._prepare(send_id, send["request"], handed.command if handed else None)
        throttle = prepared.command.engagement.throttle
        if throttle is not None and rows:
            rows = (await pacing.pace(self.queue, send_id, throttle, rows, utcnow())).due
        rows, capped = await self._apply_caps(send, prepared, rows)
        if not rows and not gone and not capped:
            return HandlerResult.done()
        logged: set[type[BaseException]] = set()
        batch = _Batch(
            prepared, utcnow(), RenderMemo(prepared.compiled), await self._clients(prepared, rows)
        )
        delivered = await self._deliver_all([(batch, row) for row in rows], logged)
        results = [*delivered, *gone, *capped]
        await self._save(send, prepared.command, results)
        await self.observer.record(self.engine, send_id, rows, delivered)
        return HandlerResult.done()

    async def handle_handed(self, jobs: Sequence[Job]) -> dict[int, HandlerResult | bool]:
        """Deliver jobs handed over at accept together, and settle them with their outcomes.

        Small sends accepted at the same moment share one read of their devices, one
        provider call per client and one transaction that records every outcome, ends
        the sends with nothing pending and settles the jobs (True: the lease was held).
        A send paced by a throttle or counted against frequency caps runs on its own, as
        a claimed job does.
        """
        together: list[tuple[Job, HandedSend]] = []
        alone: list[Job] = []
        for job in jobs:
            handed = job.context
            if isinstance(handed, HandedSend) and _joins_others(handed.command):
                together.append((job, handed))
            else:
                alone.append(job)
        if not alone:
            return await self._handle_together(together)
        outcomes, ran = await asyncio.gather(
            self._handle_together(together),
            asyncio.gather(*(self._handle_alone(job) for job in alone)),
        )
        outcomes.update(zip((job.id for job in alone), ran, strict=True))
        return outcomes

    async def _handle_alone(self, job: Job) -> HandlerResult:
        try:
            return await self.handle(job)
        except Exception as exc:
            log.warning("job %s (deliver) of send %s failed", job.id, job.send_id, exc_info=True)
            return HandlerResult.retry(describe(exc, JOB_ERROR_CHARS))

    async def _handle_together(
        self, together: list[tuple[Job, HandedSend]]
    ) -> dict[int, HandlerResult | bool]:
        if not together:
            return {}
        ids = sorted({int(i) for job, _ in together for i in job.payload["delivery_ids"]})
        async with self.engine.connect() as conn:
            found = {int(row.id): row for row in await pending_rows(conn, ids)}
        now = utcnow()
        clients: dict[ClientKey, tuple[Transport, dict[str, Any]] | Exception] = {}
        work: list[tuple[_Batch, Any]] = []
        parts: list[tuple[Job, dict[str, Any], SendCommand, list[Any], list[DeviceResult]]] = []
        failed: dict[int, HandlerResult | bool] = {}
        for job, handed in together:
            send = handed.send
            mine = [found[int(i)] for i in job.payload["delivery_ids"] if int(i) in found]
            rows = [row for row in mine if row.present]
            try:
                # Not kept in the cache: a small send is prepared once, and must not push
                # out the templates of the big sends whose batches keep coming.
                prepared = self._prepare(str(send["id"]), send["request"], handed.command, False)
                await self._clients(prepared, rows, clients)
            except Exception as exc:
                # One send's failure is its own job's: the others of the batch go out.
                log.warning("job %s (deliver) of send %s failed", job.id, send["id"], exc_info=True)
                failed[job.id] = HandlerResult.retry(describe(exc, JOB_ERROR_CHARS))
                continue
            batch = _Batch(prepared, now, RenderMemo(prepared.compiled), clients)
            work += [(batch, row) for row in rows]
            parts.append((job, send, prepared.command, rows, _gone(mine)))
        delivered = iter(await self._deliver_all(work, set()))
        sends: list[tuple[Job, list[Any], SendOutcomes]] = []
        for job, send, command, rows, gone in parts:
            sent = [next(delivered) for _ in rows]
            sends.append((job, rows, SendOutcomes(send, command, [*sent, *gone])))
        outcomes = await self._save_together(sends) if sends else {}
        outcomes.update(failed)
        await self.observer.record_sends(
            self.engine,
            [
                (str(each.send["id"]), rows, each.results[: len(rows)])
                for _, rows, each in sends
                if rows
            ],
        )
        return outcomes

    async def _save_together(
        self, sends: list[tuple[Job, list[Any], SendOutcomes]]
    ) -> dict[int, HandlerResult | bool]:
        """Record every send's outcomes and settle the jobs in one transaction.

        If that fails, each send is recorded on its own (device by device if need be) and
        its job is left for the worker to settle.
        """
        jobs = [job for job, _, _ in sends]
        recorded = [outcomes for _, _, outcomes in sends if outcomes.results]

        async def record(conn: AsyncConnection) -> set[int]:
            await record_many(conn, self.queue, recorded, self._retry_at)
            return await self.queue.complete_in(conn, jobs)

        try:
            held = await self.queue.writer.write(record)
            return {job.id: job.id in held for job in jobs}
        except Exception as exc:
            log.warning(
                "recording the outcomes of %d sends together failed (%s); recording each alone",
                len(sends),
                describe(exc),
            )
        outcomes: dict[int, HandlerResult | bool] = {}
        for job, _, each in sends:
            try:
                if each.results:
                    await self._save(each.send, each.command, each.results)
                outcomes[job.id] = HandlerResult.done()
            except Exception as exc:
                log.warning("recording the outcomes of job %s failed", job.id, exc_info=True)
                outcomes[job.id] = HandlerResult.retry(describe(exc, JOB_ERROR_CHARS))
        return outcomes

    async def _save(
        self, send: dict[str, Any], command: SendCommand, results: list[DeviceResult]
    ) -> None:
        """Record the batch in one write; if that fails, each device on its own.

        Devices whose outcome is not recorded are sent again when the job is retried,
        so a value one device brought (that its column refused) must not cost the
        others their outcomes.
        """
        try:
            await self._write(send, command, results)
            return
        except Exception as exc:
            if len(results) == 1:
                raise
            log.warning(
                "recording %d outcomes of send %s failed (%s); recording them one by one",
                len(results),
                send["id"],
                describe(exc),
            )
        for result in results:
            try:
                await self._write(send, command, [result])
            except Exception as exc:
                log.exception("recording the outcome of delivery %s failed", result.delivery_id)
                failed = DeviceResult(
                    result.delivery_id,
                    DeliveryOutcome.ERROR,
                    result.attempts,
                    reason=describe(exc, REASON_CHARS),
                    first_attempt=result.first_attempt,
                )
                await self._write(send, command, [failed])

    async def _write(
        self, send: dict[str, Any], command: SendCommand, results: list[DeviceResult]
    ) -> None:
        await self.queue.writer.write(
            partial(
                record_outcomes,
                queue=self.queue,
                send=send,
                command=command,
                results=results,
                retry_at=self._retry_at,
            )
        )

    def _prepare(
        self,
        send_id: str,
        document: dict[str, Any],
        command: SendCommand | None = None,
        keep: bool = True,
    ) -> _Prepared:
        # Parsing and compiling templates once per send, not once per device.
        cached = self._prepared.get(send_id)
        if cached is not None:
            self._prepared.move_to_end(send_id)
            return cached
        if command is None:
            command = SendCommand.from_document(document)
        sandbox = bool(command.message.options.sandbox)
        prepared = _Prepared(send_id, command, compile_command(command), sandbox)
        if not keep:
            return prepared
        self._prepared[send_id] = prepared
        if len(self._prepared) > 256:
            self._prepared.popitem(last=False)
        return prepared

    async def _apply_caps(
        self, send: dict[str, Any], prepared: _Prepared, rows: list[Any]
    ) -> tuple[list[Any], list[DeviceResult]]:
        """Split off the devices of contacts over a frequency cap; count the send for the rest."""
        labels = prepared.message.options.labels
        contact_pks = [row.contact_pk for row in rows if row.contact_pk is not None]
        if not labels or not contact_pks:
            return rows, []
        async with self.engine.connect() as conn:
            rules = await cap_store.list_rules(conn, send["project_id"], labels)
        if not rules:
            return rows, []
        inbox = prepared.command.engagement.inbox
        capped = await self.queue.writer.write(
            partial(
                reserve_caps,
                send_id=send["id"],
                labels=labels,
                rules=rules,
                contact_pks=contact_pks,
                now=utcnow(),
                # Inbox-only deliveries never count against a cap.
                record=inbox is None or not inbox.only,
            )
        )
        if not capped:
            return rows, []
        kept = [row for row in rows if row.contact_pk not in capped]
        results = [
            DeviceResult(
                row.id,
                DeliveryOutcome.CAPPED,
                int(row.attempts),
                reason=f"Cap:{capped[row.contact_pk]}",
            )
            for row in rows
            if row.contact_pk in capped
        ]
        return kept, results

    async def _clients(
        self,
        prepared: _Prepared,
        rows: list[Any],
        clients: dict[ClientKey, tuple[Transport, dict[str, Any]] | Exception] | None = None,
    ) -> dict[ClientKey, tuple[Transport, dict[str, Any]] | Exception]:
        """The provider client of each (app, provider, sandbox) in the batch, looked up once.

        A client that cannot be had is kept as its exception: it fails only the devices
        that need it, each with its own outcome. Given `clients`, those already there are
        kept and the others added to it.
        """
        if clients is None:
            clients = {}
        for row in rows:
            key = self._client_key(prepared, row)
            if key is None or key in clients:
                continue
            try:
                clients[key] = await self.clients.get(*key)
            except Exception as exc:
                clients[key] = exc
        return clients

    @staticmethod
    def _client_key(prepared: _Prepared, row: Any) -> ClientKey | None:
        provider = PLATFORM_PROVIDER.get(row.platform)
        if provider is None:
            return None
        # A device registered as a development build, or a send asking for the
        # sandbox, goes to APNs' sandbox (unless the app names its own endpoint).
        return (row.app_pk, provider, prepared.sandbox or bool(row.sandbox))

    async def _deliver_all(
        self, work: list[tuple[_Batch, Any]], logged: set[type[BaseException]]
    ) -> list[DeviceResult]:
        """Render every device, hand each provider client its share at once, read the answers.

        The results come in the order of `work`.
        """
        results: list[DeviceResult | None] = []
        groups: dict[int, _Group] = {}
        for batch, row in work:
            try:
                ready = self._ready(batch, row)
            except Exception as exc:
                results.append(self._failed(batch, row, exc, logged))
                continue
            if isinstance(ready, DeviceResult):
                results.append(ready)
                continue
            result, client, address, payload = ready
            group = groups.get(id(client))
            if group is None:
                group = groups[id(client)] = _Group(client)
            group.waiting.append((batch, row, result))
            group.items.append((address, payload))
            results.append(None)
        if len(groups) == 1:
            answered = [await self._send_group(group, logged) for group in groups.values()]
        else:
            answered = await asyncio.gather(
                *(self._send_group(group, logged) for group in groups.values())
            )
        # Each device's answer takes its place among the results of the devices before it.
        by_id = {result.delivery_id: result for part in answered for result in part}
        return [
            found if found is not None else by_id[row.id]
            for found, (_, row) in zip(results, work, strict=True)
        ]

    async def _send_group(
        self, group: _Group, logged: set[type[BaseException]]
    ) -> list[DeviceResult]:
        """One client's devices, sent in one call; each answer is its device's."""
        answers: list[DeliveryResult | Exception]
        started = time.perf_counter()
        try:
            answers = await group.client.deliver_many(group.items)
        except Exception as exc:
            answers = [exc] * len(group.items)
        # The whole call's time stands for each device's: the requests went out together.
        seconds = time.perf_counter() - started
        results = []
        for (batch, row, result), answer in zip(group.waiting, answers, strict=True):
            if isinstance(answer, Exception):
                results.append(self._failed(batch, row, answer, logged))
            else:
                result.extra["provider_seconds"] = seconds
                results.append(apply_answer(result, answer, row))
        return results

    @staticmethod
    def _failed(
        batch: _Batch, row: Any, exc: Exception, logged: set[type[BaseException]]
    ) -> DeviceResult:
        """An unexpected exception as the device's `error` outcome."""
        reason = describe(exc, REASON_CHARS)
        # One traceback per kind of failure and batch: a bug hitting every device of a
        # batch logs its trace once, then a line per device.
        first = type(exc) not in logged
        logged.add(type(exc))
        log.error(
            "delivery %s of send %s failed: %s",
            row.id,
            batch.prepared.send_id,
            reason,
            exc_info=exc if first else None,
        )
        failed = DeviceResult(
            row.id,
            DeliveryOutcome.ERROR,
            int(row.attempts) + 1,
            reason=reason,
            first_attempt=row.first_attempt_at is None,
        )
        # So that a cap this send was counted against is given back.
        failed.extra["contact_pk"] = row.contact_pk
        return failed

    def _ready(
        self, batch: _Batch, row: Any
    ) -> DeviceResult | tuple[DeviceResult, Transport, Address, BuiltPayload]:
        """A device's request, built; or its outcome when there is nothing to send."""
        prepared = batch.prepared
        attempts = int(row.attempts) + 1
        result = DeviceResult(
            row.id, DeliveryOutcome.PENDING, attempts, first_attempt=row.first_attempt_at is None
        )
        result.extra["contact_pk"] = row.contact_pk
        key = self._client_key(prepared, row)
        if key is None:
            result.outcome = DeliveryOutcome.UNDELIVERABLE
            result.reason = f"UnsupportedPlatform:{row.platform}"
            return result
        try:
            entry = batch.clients[key]
            if isinstance(entry, Exception):
                raise entry
            client, public = entry
            rendered = render_for_device(
                prepared.command,
                prepared.compiled,
                device_from_row(row),
                public,
                send_id=prepared.send_id,
                now=batch.now,
                memo=batch.memo,
            )
            result.language = rendered.language
            inbox = prepared.command.engagement.inbox
            if inbox is not None:
                result.extra["content"] = rendered.content
                if inbox.only:
                    result.outcome = DeliveryOutcome.INBOXED
                    return result
        except MissingCredentials as exc:
            result.outcome, result.reason = DeliveryOutcome.ERROR, exc.reason
            log.warning("delivery %s: %s", row.id, exc)
            return result
        except DomainError as exc:
            result.outcome, result.reason = DeliveryOutcome.ERROR, exc.code
            log.warning("delivery %s: %s", row.id, exc.message)
            return result
        return result, client, Address(row.token, row.subscription), rendered.payload

    def _retry_at(self, now: datetime, retry: list[DeviceResult]) -> datetime:
        """When the devices to retry are due: backoff with jitter, never before Retry-After."""
        attempts = max(r.attempts for r in retry)
        hinted = max((r.retry_after for r in retry if r.retry_after is not None), default=None)
        delay = DEVICE_RETRY.delay(attempts, self._rng, retry_after=hinted)
        return now + timedelta(seconds=delay)


def _gone(found: list[Any]) -> list[DeviceResult]:
    """The outcomes of deliveries whose device was deleted since planning (no row to join)."""
    return [
        DeviceResult(row.id, DeliveryOutcome.NOT_FOUND, 0, reason="InstallationDeleted")
        for row in found
        if not row.present
    ]


def _joins_others(command: SendCommand) -> bool:
    """Whether a handed-over send may be delivered in one batch with other sends.

    Throttled sends are paced and capped sends reserve their caps first, one send at a
    time.
    """
    return command.engagement.throttle is None and not command.message.options.labels
