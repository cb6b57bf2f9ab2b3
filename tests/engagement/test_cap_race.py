"""A contact's last allowance under a frequency cap goes to one send, however close they run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from clarion.delivery.caps import reserve_caps
from clarion.queue.sql import SqlJobQueue
from clarion.store import caps as cap_store
from clarion.store.engine import create_engine
from clarion.store.tables import contacts
from clarion.store.types import utcnow
from tests.conftest import make_project, make_settings, running_client
from tests.delivery_env import DeliveryEnv
from tests.engagement.test_caps import labelled_send


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A started Clarion without workers: its sends wait in the queue for the test to deliver."""
    settings = make_settings(database_url, tmp_path, inprocess_workers=False)
    async with running_client(settings) as http:
        yield http


async def _ok(response: Any) -> dict[str, Any]:
    response = await response
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def test_two_processes_racing_for_one_allowance_reserve_it_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    project = await make_project(client)
    headers = project.headers
    await _ok(client.post("/v1/apps", json={"id": f"{project.id}-a", "name": "A"}, headers=headers))
    await _ok(client.put("/v1/contacts/ann", json={}, headers=headers))
    cap = {"max": 1, "period_seconds": 3600}
    await _ok(client.put("/v1/caps/promo", json=cap, headers=headers))
    body = {
        "recipients": {"external_ids": ["ann"]},
        "content": {"body": "Offer"},
        "options": {"labels": ["promo"]},
    }
    sends = [(await _ok(client.post("/v1/sends", json=body, headers=headers)))["id"] for _ in "ab"]

    # Two engines and two queue writers: what two worker processes hold.
    engines = [create_engine(database_url) for _ in sends]
    queues = [SqlJobQueue(engine) for engine in engines]
    try:
        async with engines[0].connect() as conn:
            rules = await cap_store.list_rules(conn, project.id, ["promo"])
            ann = (
                await conn.execute(select(contacts.c.pk).where(contacts.c.project_id == project.id))
            ).scalar_one()

        async def reserve(queue: SqlJobQueue, send_id: str) -> dict[int, str]:
            return await queue.writer.write(
                lambda conn: reserve_caps(conn, send_id, ["promo"], rules, [ann], utcnow())
            )

        # The first process has counted ann but not committed yet when the second one asks.
        async with engines[0].begin() as conn:
            assert await reserve_caps(conn, sends[0], ["promo"], rules, [ann], utcnow()) == {}
            second = asyncio.create_task(reserve(queues[1], sends[1]))
            await asyncio.sleep(0.3)
            assert not second.done(), "the second check did not wait for the first to commit"
        assert await second == {ann: "promo"}
        # Asked again (a retried batch), each send keeps its answer.
        results = await asyncio.gather(*(reserve(q, s) for q, s in zip(queues, sends, strict=True)))
        assert results == [{}, {ann: "promo"}]
        async with engines[0].connect() as conn:
            counted = await cap_store.received_counts(
                conn, [ann], {"promo": utcnow().replace(year=2000)}, "none"
            )
        assert counted == {(ann, "promo"): 1}
    finally:
        for queue in queues:
            await queue.close()
        for engine in engines:
            await engine.dispose()


async def test_a_send_that_reaches_no_device_gives_its_allowance_back(env: DeliveryEnv) -> None:
    token = await env.ios("phone-ann", external_id="ann")
    await env.http.put(
        "/v1/caps/promo", json={"max": 1, "period_seconds": 3600}, headers=env.headers
    )
    env.emulators.apns.faults.set_outcome(token, "BadTopic", 400)
    failed = await labelled_send(env, ["promo"], "ann")
    assert failed["counts"]["errors"] == 1, failed
    env.emulators.apns.faults.clear_outcome(token)
    assert (await labelled_send(env, ["promo"], "ann"))["counts"]["sent"] == 1
    assert (await labelled_send(env, ["promo"], "ann"))["counts"]["capped"] == 1
