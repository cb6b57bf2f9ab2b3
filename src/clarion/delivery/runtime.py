"""The delivery runtime: queue, planner, dispatcher and worker wired together."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.config import Settings
from clarion.delivery.clients import ProviderClients
from clarion.delivery.dispatcher import Dispatcher
from clarion.delivery.endings import SendEndings
from clarion.delivery.finish import Finisher, sms_gateway_from
from clarion.delivery.jobs import DELIVER, FINISH_SEND, PLAN_SEND, is_legacy_finish
from clarion.delivery.planner import Planner
from clarion.delivery.sweep import StuckSendSweep
from clarion.providers.outbound import STRICT, OutboundPolicy
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.queue.worker import Worker
from clarion.store.secret_check import SecretHealth
from clarion.store.secrets import SecretBox

#: How long shutdown waits for a sweep in progress before cancelling it.
SWEEP_STOP_SECONDS = 5.0


class DeliveryRuntime:
    """Runs the workers of one process until stopped."""

    def __init__(
        self,
        engine: AsyncEngine,
        queue: SqlJobQueue,
        secrets: SecretBox,
        *,
        extra_ca_file: Path | None = None,
        concurrency: int = 16,
        lease_seconds: float = 30.0,
        outbound: OutboundPolicy = STRICT,
        secret_health: SecretHealth | None = None,
        sweep: StuckSendSweep | None = None,
    ) -> None:
        self.clients = ProviderClients(
            engine, secrets, extra_ca_file, outbound=outbound, health=secret_health
        )
        self.planner = Planner(engine, queue)
        self.dispatcher = Dispatcher(engine, queue, self.clients)
        # Inbox items of contacts without devices and SMS fallback run after the pushes.
        self.finisher = Finisher(engine, queue)
        self.endings = SendEndings(queue)
        self.worker = Worker(
            queue,
            {
                PLAN_SEND: self.planner.handle,
                DELIVER: self._deliver,
                FINISH_SEND: self.finisher.handle,
            },
            on_exhausted={
                PLAN_SEND: self.endings.planning_given_up,
                DELIVER: self._delivery_given_up,
                FINISH_SEND: self.endings.finishing_given_up,
            },
            # Small sends handed over at accept are delivered together.
            batch_handlers={DELIVER: self.dispatcher.handle_handed},
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            # Planning a large send keeps a worker busy: several processes share them.
            single_kinds=(PLAN_SEND,),
        )
        self.queue = queue
        self.sweep = sweep
        self._task: asyncio.Task[None] | None = None
        self._sweeping: asyncio.Task[None] | None = None

    async def _deliver(self, job: Job) -> HandlerResult:
        if is_legacy_finish(job.payload):
            return await self.finisher.handle(job)
        return await self.dispatcher.handle(job)

    async def _delivery_given_up(self, job: Job, error: str) -> None:
        if is_legacy_finish(job.payload):
            await self.endings.finishing_given_up(job, error)
        else:
            await self.endings.delivery_given_up(job, error)

    def start(self) -> None:
        """Start the worker loop (and the stuck-send sweep) in the background."""
        self._task = asyncio.create_task(self.worker.run(), name="clarion-worker")
        # Requests of this process hand small sends' deliver jobs straight to this worker.
        self.queue.local = self.worker
        if self.sweep is not None:
            self._sweeping = asyncio.create_task(self.sweep.run(), name="clarion-sweep")

    async def run(self) -> None:
        """Run the worker loop in the foreground."""
        if self.sweep is not None and self._sweeping is None:
            self._sweeping = asyncio.create_task(self.sweep.run(), name="clarion-sweep")
        await self.worker.run()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: AsyncEngine,
        queue: SqlJobQueue,
        secrets: SecretBox,
        secret_health: SecretHealth | None = None,
    ) -> DeliveryRuntime:
        """The runtime a server or worker process runs, SMS gateway included when configured."""
        runtime = cls(
            engine,
            queue,
            secrets,
            extra_ca_file=settings.extra_ca_file,
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.lease_seconds,
            outbound=settings.outbound_policy,
            secret_health=secret_health,
            sweep=StuckSendSweep(
                engine, interval=settings.sweep_seconds, stuck_after=settings.stuck_send_seconds
            ),
        )
        runtime.finisher.sms = sms_gateway_from(settings)
        return runtime

    async def stop(self) -> None:
        """Finish or hand back in-flight jobs, then close the provider and SMS clients."""
        if self.queue.local is self.worker:
            self.queue.local = None
        if self._sweeping is not None and self.sweep is not None:
            self.sweep.stop()
            # A sweep stuck on an unresponsive database must not hold shutdown for ever.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._sweeping, SWEEP_STOP_SECONDS)
        await self.worker.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.clients.close()
        await self.finisher.close()
