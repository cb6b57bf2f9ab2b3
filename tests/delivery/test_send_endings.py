"""Every send ends: a planning, delivery or finishing job that is given up ends its send."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from clarion.delivery.dispatcher import Dispatcher
from clarion.delivery.finish import Finisher
from clarion.queue.models import HandlerResult
from clarion.store.engine import create_engine
from clarion.store.send_tables import sends
from clarion.store.types import utcnow
from tests.delivery.injection import InjectedFault, received
from tests.delivery_env import DeliveryEnv, delivery_env


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion giving a job up after two attempts."""
    async with delivery_env(database_url, tmp_path, job_max_attempts=2) as harness:
        yield harness


async def exhausted(env: DeliveryEnv, kind: str) -> float:
    """clarion_jobs_exhausted_total of a job kind, as /metrics shows it."""
    text = (await env.http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "clarion_jobs_exhausted_total" and sample.labels["kind"] == kind:
                return float(sample.value)
    return 0.0


async def exhausted_reaches(env: DeliveryEnv, kind: str, value: float) -> None:
    """Wait until the worker has counted the given-up job: it does so after the send ended."""
    async with asyncio.timeout(10):
        while True:
            if await exhausted(env, kind) >= value:
                break
            await asyncio.sleep(0.05)
    assert await exhausted(env, kind) == value


def given_up_lines(caplog: pytest.LogCaptureFixture, send_id: str) -> list[str]:
    """The worker's ERROR lines about a send's given-up jobs."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "clarion.queue.worker"
        and r.levelno == logging.ERROR
        and send_id in r.getMessage()
    ]


async def test_a_send_that_cannot_be_planned_fails_with_its_reason(
    env: DeliveryEnv, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="clarion.queue.worker")
    token = await env.android("pixel")
    before = await exhausted(env, "plan_send")
    at = (utcnow() + timedelta(seconds=1.5)).isoformat()
    send_id = await env.send(
        {"recipients": {"tokens": [token]}, "content": {"body": "x"}, "schedule": {"at": at}}
    )
    # A stored request this version cannot read (written by another version, or damaged).
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(sends).where(sends.c.id == send_id).values(request={"message": {}})
            )
    finally:
        await engine.dispose()

    done = await env.wait_done(send_id, seconds=30)

    assert done["status"] == "failed", done
    assert done["error"].startswith("planning: gave up after 2 attempts: KeyError"), done
    assert done["completed_at"] is not None
    await exhausted_reaches(env, "plan_send", before + 1)
    (line,) = given_up_lines(caplog, send_id)
    assert "plan_send" in line
    assert received(env, "android", token) == 0


async def test_a_delivery_batch_given_up_ends_its_devices_and_its_send(
    env: DeliveryEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="clarion.queue.worker")
    ios = await env.ios("iphone")
    android = await env.android("pixel")
    prepare = Dispatcher._prepare

    def failing_prepare(self: Dispatcher, send_id: str, *_: Any) -> Any:
        raise InjectedFault("cannot prepare")

    monkeypatch.setattr(Dispatcher, "_prepare", failing_prepare)
    before = await exhausted(env, "deliver")
    send_id = await env.send(
        {"recipients": {"installation_ids": ["iphone", "pixel"]}, "content": {"body": "x"}}
    )
    done = await env.wait_done(send_id, seconds=30)
    monkeypatch.setattr(Dispatcher, "_prepare", prepare)

    assert done["status"] == "done", done
    assert done["counts"]["errors"] == 2 and done["counts"]["pending"] == 0, done
    expected = "delivery: gave up after 2 attempts: InjectedFault: cannot prepare"
    assert done["error"] == expected, done
    for delivery in await env.deliveries(send_id):
        assert delivery["outcome"] == "error" and delivery["completed_at"], delivery
        assert delivery["provider_reason"] == expected[:128]
    await exhausted_reaches(env, "deliver", before + 1)
    (line,) = given_up_lines(caplog, send_id)
    assert "deliver" in line
    assert received(env, "ios", ios) == 0 and received(env, "android", android) == 0


async def test_a_last_phase_given_up_still_ends_the_send(
    env: DeliveryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.android("pixel", external_id="ann")
    response = await env.http.put(
        "/v1/contacts/bob", json={"phone": "+14155550123"}, headers=env.headers
    )
    assert response.status_code in (200, 201), response.text

    async def failing_run(self: Finisher, *args: Any) -> HandlerResult:
        raise InjectedFault("SMS gateway client broke")

    monkeypatch.setattr(Finisher, "run", failing_run)
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["ann", "bob"]},
            "content": {"body": "x"},
            "sms_fallback": {"body": "x"},
        }
    )
    done = await env.wait_done(send_id, seconds=30)
    assert done["status"] == "done" and done["counts"]["sent"] == 1, done
    assert done["error"] == (
        "finishing: gave up after 2 attempts: InjectedFault: SMS gateway client broke"
    )


async def test_a_send_that_ends_normally_has_no_error(env: DeliveryEnv) -> None:
    token = await env.android("pixel")
    done = await env.wait_done(
        await env.send({"recipients": {"tokens": [token]}, "content": {"body": "x"}})
    )
    assert done["status"] == "done" and done["error"] is None
