"""Scheduled sends to explicit recipients: held until `schedule.at`, cancellable before it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from clarion.delivery.jobs import PLAN_SEND
from clarion.store.engine import create_engine
from clarion.store.job_tables import CANCELLED, QUEUED, jobs
from clarion.store.types import utcnow
from tests.conftest import error_of
from tests.delivery_env import DeliveryEnv
from tests.dialects.test_sfmc_e2e import example


async def _plan_jobs(database_url: str, send_id: str) -> list[tuple[datetime, str]]:
    """Run time and status of every planning job of a send."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(jobs.c.run_at, jobs.c.status).where(
                jobs.c.send_id == send_id, jobs.c.kind == PLAN_SEND
            )
            return [(row.run_at, row.status) for row in await conn.execute(query)]
    finally:
        await engine.dispose()


def _apns_arrivals(env: DeliveryEnv, token: str) -> list[Any]:
    return [d for d in env.emulators.apns.deliveries if d.target == token]


async def _post(env: DeliveryEnv, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = env.headers | ({"Idempotency-Key": key} if key else {})
    response = await env.http.post("/v1/sends", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_scheduled_send_waits_for_its_time(env: DeliveryEnv, database_url: str) -> None:
    token = await env.ios("phone", external_id="ann")
    at = (utcnow() + timedelta(seconds=3)).replace(microsecond=0)
    body = {
        "recipients": {"external_ids": ["ann"]},
        "content": {"body": "later"},
        "schedule": {"at": at.isoformat()},
    }
    accepted = await _post(env, body, key="later-1")
    assert accepted["status"] == "scheduled" and accepted["recipients"] == 1
    send_id = accepted["id"]
    replayed = await _post(env, body, key="later-1")
    assert replayed["id"] == send_id and replayed.get("replayed") is True
    assert replayed["status"] == "scheduled"
    assert await _plan_jobs(database_url, send_id) == [(at, QUEUED)]

    # While the send still reads `scheduled`, nothing of it has reached a device.
    while True:
        shown = (await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)).json()
        if shown["status"] != "scheduled":
            break
        assert datetime.fromisoformat(shown["scheduled_at"]) == at
        assert shown["counts"]["targeted"] == 0
        assert _apns_arrivals(env, token) == []
        await asyncio.sleep(0.1)

    done = await env.wait_done(send_id)
    assert done["status"] == "done" and done["counts"]["sent"] == 1, done
    (delivery,) = await env.deliveries(send_id)
    assert datetime.fromisoformat(delivery["first_attempt_at"]) >= at
    (arrived,) = _apns_arrivals(env, token)
    assert arrived.payload["aps"]["alert"]["body"] == "later"


async def test_cancel_before_its_time_sends_nothing(env: DeliveryEnv, database_url: str) -> None:
    cancelled_token = await env.ios("cancelled-phone")
    kept_token = await env.ios("kept-phone")
    at = utcnow() + timedelta(seconds=2)

    def scheduled(token: str) -> dict[str, Any]:
        return {
            "recipients": {"tokens": [token]},
            "apps": [env.app_id],
            "content": {"body": "maybe"},
            "schedule": {"at": at.isoformat()},
        }

    cancelled_id = (await _post(env, scheduled(cancelled_token)))["id"]
    kept_id = (await _post(env, scheduled(kept_token)))["id"]
    cancel = await env.http.post(f"/v1/sends/{cancelled_id}/cancel", headers=env.headers)
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled"
    assert [status for _, status in await _plan_jobs(database_url, cancelled_id)] == [CANCELLED]

    # The send due at the same instant goes out; the cancelled one never plans.
    assert (await env.wait_done(kept_id))["counts"]["sent"] == 1
    assert len(_apns_arrivals(env, kept_token)) == 1
    assert _apns_arrivals(env, cancelled_token) == []
    assert await env.deliveries(cancelled_id) == []
    shown = (await env.http.get(f"/v1/sends/{cancelled_id}", headers=env.headers)).json()
    assert shown["status"] == "cancelled" and shown["counts"]["targeted"] == 0
    again = await env.http.post(f"/v1/sends/{cancelled_id}/cancel", headers=env.headers)
    assert again.status_code == 409


async def test_past_instant_sends_now_as_broadcasts_do(env: DeliveryEnv) -> None:
    token = await env.ios("phone", external_id="ann")
    at = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    accepted = await _post(
        env,
        {
            "recipients": {"external_ids": ["ann"]},
            "content": {"body": "now"},
            "schedule": {"at": at.isoformat()},
        },
    )
    assert accepted["status"] == "accepted"
    done = await env.wait_done(accepted["id"])
    assert done["counts"]["sent"] == 1
    assert datetime.fromisoformat(done["scheduled_at"]) == at
    assert len(_apns_arrivals(env, token)) == 1


async def test_unsupported_schedules_are_refused(env: DeliveryEnv) -> None:
    async def refused(extra: dict[str, Any]) -> dict[str, Any]:
        response = await env.http.post(
            "/v1/sends",
            json={"recipients": {"tokens": ["ab" * 32]}, "content": {"body": "x"}, **extra},
            headers=env.headers,
        )
        assert response.status_code == 400, response.text
        return error_of(response)

    local = await refused({"schedule": {"local_time": "09:00", "date": "2026-12-01"}})
    assert local["field"] == "schedule.local_time" and "audience" in local["message"]
    assert (await refused({"schedule": {"at": "2026-12-01T09:00:00"}}))["field"] == "schedule.at"
    far = (utcnow() + timedelta(days=400)).isoformat()
    assert (await refused({"schedule": {"at": far}}))["field"] == "schedule"
    assert (await refused({"schedule": {}}))["field"] == "schedule"
    assert (await refused({"exclude_lists": ["lst_x"]}))["field"] == "exclude_lists"


async def test_sfmc_contact_send_with_a_future_send_time(
    env: DeliveryEnv, database_url: str
) -> None:
    token = await env.ios("phone", external_id="ann")
    # The example definition reads send times at UTC-4; tzBased does not apply to contacts.
    created = await env.http.post("/push/v1/message", json=example(env.app_id), headers=env.headers)
    assert created.status_code == 201, created.text
    message_id = created.json()["id"]
    offset = timezone(timedelta(hours=-4))
    local = (datetime.now(offset) + timedelta(minutes=3)).replace(second=0, microsecond=0)
    send_time = local.strftime("%Y-%m-%d %H:%M")
    at = local.astimezone(UTC)

    response = await env.http.post(
        f"/push/v1/messageContact/{message_id}/send",
        json={"subscriberKeys": ["ann"], "sendTime": send_time},
        headers=env.headers,
    )
    assert response.status_code == 202, response.text
    send_id = response.json()["tokenId"]
    shown = (await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)).json()
    assert shown["status"] == "scheduled"
    assert datetime.fromisoformat(shown["scheduled_at"]) == at
    assert await _plan_jobs(database_url, send_id) == [(at, QUEUED)]

    batch = await env.http.post(
        f"/push/v1/messageBatch/{message_id}/send",
        json={"deviceTokens": [token], "sendTime": send_time, "message": {"alert": "hi"}},
        headers=env.headers,
    )
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["tokenId"]
    assert await _plan_jobs(database_url, batch_id) == [(at, QUEUED)]

    for scheduled_id in (send_id, batch_id):
        cancel = await env.http.post(f"/v1/sends/{scheduled_id}/cancel", headers=env.headers)
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    assert _apns_arrivals(env, token) == []
