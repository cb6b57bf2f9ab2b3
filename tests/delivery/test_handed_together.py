"""Small sends handed over at the same moment are delivered and recorded together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.delivery.clients import ProviderClients
from clarion.delivery.dispatcher import Dispatcher
from clarion.domain.command import parse_send_command
from clarion.providers.apns import ApnsClient
from clarion.providers.outbound import policy_from
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.sending.accept import accept, request_hash
from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from clarion.store.secrets import SecretBox
from tests.delivery.injection import InjectedFault, received
from tests.delivery_env import DeliveryEnv, delivery_env
from tests.local_outbound import LOCAL_ALLOWLIST


class Holding:
    """A local runner that keeps the jobs handed to it, for the test to run."""

    owner = "test-runner"
    lease_seconds = 60.0

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def has_room(self, kind: str) -> bool:
        return True

    def adopt(self, jobs: Sequence[Job]) -> None:
        self.jobs.extend(jobs)


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion with its in-process workers (which never see the jobs held here)."""
    async with delivery_env(database_url, tmp_path, secret_key="test-secret") as harness:
        yield harness


@dataclass
class Handing:
    """An engine, a queue whose local runner holds what accept hands over, and clients."""

    engine: AsyncEngine
    queue: SqlJobQueue
    runner: Holding
    clients: ProviderClients

    async def accept_to(self, env: DeliveryEnv, tokens: list[str]) -> list[str]:
        """Accept a one-token send per token; their ids."""
        sends = []
        for token in tokens:
            body = {"recipients": {"tokens": [token]}, "content": {"body": "hi"}}
            command = parse_send_command(body, None)
            accepted = await accept(
                self.engine, self.queue, env.project_id, command, fingerprint=request_hash(body)
            )
            sends.append(accepted.id)
        return sends

    def dispatcher(self) -> Dispatcher:
        """A dispatcher on this engine, queue and clients."""
        return Dispatcher(self.engine, self.queue, self.clients)


@pytest.fixture
async def handing(env: DeliveryEnv, database_url: str) -> AsyncIterator[Handing]:
    """A second engine and queue on the test database, as accept and a dispatcher use them."""
    engine = create_engine(database_url)
    queue = SqlJobQueue(engine)
    runner = Holding()
    queue.local = runner
    clients = ProviderClients(
        engine,
        SecretBox("test-secret"),
        env.emulators.ca_file,
        outbound=policy_from(LOCAL_ALLOWLIST),
    )
    try:
        yield Handing(engine, queue, runner, clients)
    finally:
        await clients.close()
        await queue.close()
        await engine.dispose()


async def test_sends_handed_over_together_share_one_provider_call_and_end_settled(
    env: DeliveryEnv, handing: Handing, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = [await env.ios(f"phone-{i}") for i in range(3)]
    calls: list[int] = []
    deliver_many = ApnsClient.deliver_many

    async def counted(self: ApnsClient, items: list[Any]) -> Any:
        calls.append(len(items))
        return await deliver_many(self, items)

    monkeypatch.setattr(ApnsClient, "deliver_many", counted)
    sends = await handing.accept_to(env, tokens)
    assert len(handing.runner.jobs) == 3

    outcomes = await handing.dispatcher().handle_handed(handing.runner.jobs)

    # Settled in the transaction of their outcomes, each lease still held.
    assert outcomes == {job.id: True for job in handing.runner.jobs}
    assert calls == [3]
    for send_id, token in zip(sends, tokens, strict=True):
        done = await env.wait_done(send_id, seconds=5)
        assert done["status"] == "done" and done["counts"]["sent"] == 1, done
        assert received(env, "ios", token) == 1
    async with handing.engine.connect() as conn:
        found = (
            await conn.execute(
                select(jobs.c.status, jobs.c.attempts).where(jobs.c.send_id.in_(sends))
            )
        ).all()
    assert sorted(tuple(row) for row in found) == [("done", 1)] * 3


async def test_a_send_that_cannot_be_prepared_costs_only_its_own_job(
    env: DeliveryEnv, handing: Handing, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = [await env.ios(f"tablet-{i}") for i in range(3)]
    sends = await handing.accept_to(env, tokens)
    prepare = Dispatcher._prepare

    def picky(self: Dispatcher, send_id: str, *args: Any) -> Any:
        if send_id == sends[1]:
            raise InjectedFault("cannot prepare")
        return prepare(self, send_id, *args)

    monkeypatch.setattr(Dispatcher, "_prepare", picky)
    first, second, third = handing.runner.jobs

    dispatcher = handing.dispatcher()
    outcomes = await dispatcher.handle_handed(handing.runner.jobs)

    assert outcomes[first.id] is True and outcomes[third.id] is True
    retried = outcomes[second.id]
    assert isinstance(retried, HandlerResult) and retried.outcome == "retry"
    assert retried.error == "InjectedFault: cannot prepare"
    assert [received(env, "ios", token) for token in tokens] == [1, 0, 1]
    # Run again, it goes out and its send ends like the others.
    monkeypatch.undo()
    assert await dispatcher.handle_handed([second]) == {second.id: True}
    assert [received(env, "ios", token) for token in tokens] == [1, 1, 1]
    for send_id in sends:
        assert (await env.wait_done(send_id, seconds=5))["status"] == "done"
