"""Scheduled broadcasts: not planned before their time, delivered after it, across restarts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.delivery.jobs import PLAN_SEND
from clarion.emulators.suite import EmulatorSuite
from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from clarion.store.types import utcnow
from tests.broadcasts.support import arrivals, seed_audience
from tests.conftest import ADMIN_KEY, error_of
from tests.delivery_env import DeliveryEnv, configure_app
from tests.local_outbound import LOCAL_ALLOWLIST


async def _plan_job_run_at(database_url: str, send_id: str) -> datetime:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(jobs.c.run_at).where(jobs.c.send_id == send_id, jobs.c.kind == PLAN_SEND)
            run_at: datetime = (await conn.execute(query)).scalar_one()
    finally:
        await engine.dispose()
    return run_at


async def test_scheduled_send_waits_for_its_time(env: DeliveryEnv, database_url: str) -> None:
    addresses = await seed_audience(env)
    at = (utcnow() + timedelta(seconds=4)).replace(microsecond=0)
    response = await env.http.post(
        "/v1/sends",
        json={
            "audience": {"all": True},
            "content": {"body": "later"},
            "schedule": {"at": at.isoformat()},
        },
        headers=env.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "scheduled"
    send_id = response.json()["id"]
    assert await _plan_job_run_at(database_url, send_id) == at
    waiting = (await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)).json()
    assert waiting["status"] == "scheduled"
    assert datetime.fromisoformat(waiting["scheduled_at"]) == at
    done = await env.wait_done(send_id)
    assert done["counts"]["sent"] == 5
    trail = await env.deliveries(send_id)
    assert all(datetime.fromisoformat(d["first_attempt_at"]) >= at for d in trail)
    assert sum(arrivals(env, addresses).values()) == 5


async def test_cancel_a_scheduled_send(env: DeliveryEnv) -> None:
    await seed_audience(env)
    at = utcnow() + timedelta(hours=1)
    send_id = await env.send(
        {"audience": {"all": True}, "content": {"body": "x"}, "schedule": {"at": at.isoformat()}}
    )
    cancelled = await env.http.post(f"/v1/sends/{send_id}/cancel", headers=env.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["counts"]["targeted"] == 0
    again = await env.http.post(f"/v1/sends/{send_id}/cancel", headers=env.headers)
    assert again.status_code == 409


async def test_schedule_errors(env: DeliveryEnv) -> None:
    async def refused(schedule: Any) -> dict[str, Any]:
        response = await env.http.post(
            "/v1/sends",
            json={"audience": {"all": True}, "content": {"body": "x"}, "schedule": schedule},
            headers=env.headers,
        )
        assert response.status_code == 400, response.text
        return error_of(response)

    assert (await refused({"at": "2026-12-01T09:00:00"}))["field"] == "schedule.at"
    assert (await refused({"local_time": "9am", "date": "2026-12-01"}))["field"] == (
        "schedule.local_time"
    )
    assert (await refused({"local_time": "09:00"}))["field"] == "schedule.date"
    assert (await refused({}))["field"] == "schedule"
    far = (utcnow() + timedelta(days=400)).isoformat()
    assert (await refused({"at": far}))["field"] == "schedule"
    over = {"local_time": "09:00", "date": "2020-01-01", "past_time": "skip"}
    assert (await refused(over))["field"] == "schedule"
    assert (await refused({"local_time": "09:00", "date": "2026-12-01", "past_time": "later"}))[
        "field"
    ] == "schedule.past_time"


async def test_scheduled_send_survives_a_restart(database_url: str, tmp_path: Path) -> None:
    async with EmulatorSuite(tmp_path / "emulators") as emulators:
        settings = Settings(
            database_url=database_url,
            var_dir=tmp_path / "var",
            admin_key=ADMIN_KEY,
            secret_key="test-secret",
            extra_ca_file=emulators.ca_file,
            outbound_allowlist=LOCAL_ALLOWLIST,
        )
        token = "cd" * 32
        first = create_app(settings)
        async with first.router.lifespan_context(first), _client(first) as http:
            _, app_id, key = await configure_app(http, emulators)
            headers = {"Authorization": f"Bearer {key}"}
            await http.put(
                f"/v1/apps/{app_id}/installations/phone",
                json={"platform": "ios", "token": token},
                headers=headers,
            )
            at = utcnow() + timedelta(seconds=4)
            response = await http.post(
                "/v1/sends",
                json={
                    "audience": {"all": True},
                    "content": {"body": "after restart"},
                    "schedule": {"at": at.isoformat()},
                },
                headers=headers,
            )
            assert response.json()["status"] == "scheduled", response.text
            send_id = response.json()["id"]
        # The first server is gone before the send was due; a new one takes over.
        assert [d for d in emulators.apns.deliveries if d.target == token] == []
        second = create_app(settings)
        async with second.router.lifespan_context(second), _client(second) as http:
            deadline = utcnow() + timedelta(seconds=60)
            while True:
                body = (await http.get(f"/v1/sends/{send_id}", headers=headers)).json()
                if body["status"] == "done" or utcnow() > deadline:
                    break
                await _sleep()
        assert body["status"] == "done" and body["counts"]["sent"] == 1, body
        (arrived,) = [d for d in emulators.apns.deliveries if d.target == token]
        assert arrived.payload["aps"]["alert"]["body"] == "after restart"


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://clarion.test", timeout=60
    )


async def _sleep() -> None:
    await asyncio.sleep(0.1)
