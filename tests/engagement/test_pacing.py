"""Throttled sends end to end: N deliveries start now, the rest wait for their window."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from tests.delivery_env import DeliveryEnv


async def wait_counts(env: DeliveryEnv, send_id: str, **expected: int) -> dict[str, Any]:
    """Poll a send until its counts include `expected`."""
    for _ in range(2400):
        body: dict[str, Any] = (
            await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)
        ).json()
        if "counts" in body and all(body["counts"].get(k) == v for k, v in expected.items()):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(body)


async def test_deliveries_beyond_the_rate_wait_for_the_next_window(env: DeliveryEnv) -> None:
    tokens = [await env.android(f"phone-{i}", external_id=f"user-{i}") for i in range(5)]
    send_id = await env.send(
        {
            "recipients": {"external_ids": [f"user-{i}" for i in range(5)]},
            "content": {"body": "Paced"},
            "throttle": {"messages": 2, "per_minutes": 30},
        }
    )
    stats = await wait_counts(env, send_id, sent=2, throttled=3)
    assert stats["status"] == "delivering" and stats["counts"]["pending"] == 0
    trail = await env.deliveries(send_id)
    sent = [d for d in trail if d["outcome"] == "sent"]
    held = sorted((d for d in trail if d["outcome"] == "throttled"), key=lambda d: d["id"])
    start = datetime.fromisoformat(sent[0]["scheduled_at"])
    assert {d["scheduled_at"] for d in sent} == {sent[0]["scheduled_at"]}
    windows = [datetime.fromisoformat(d["scheduled_at"]) - start for d in held]
    assert windows == [timedelta(minutes=30)] * 2 + [timedelta(minutes=60)]
    assert len([d for d in env.emulators.fcm.deliveries if d.target in tokens]) == 2

    cancelled = await env.http.post(f"/v1/sends/{send_id}/cancel", headers=env.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["counts"]["cancelled"] == 3
    outcomes = sorted(d["outcome"] for d in await env.deliveries(send_id))
    assert outcomes == ["cancelled"] * 3 + ["sent"] * 2


async def test_a_rate_above_the_audience_sends_everything_now(env: DeliveryEnv) -> None:
    for i in range(3):
        await env.ios(f"phone-{i}", external_id=f"user-{i}")
    done = await env.wait_done(
        await env.send(
            {
                "recipients": {"external_ids": [f"user-{i}" for i in range(3)]},
                "content": {"body": "Paced"},
                "throttle": {"messages": 3, "per_minutes": 1},
            }
        )
    )
    assert done["counts"]["sent"] == 3 and done["counts"]["throttled"] == 0


async def test_bad_throttle_is_refused(env: DeliveryEnv) -> None:
    response = await env.http.post(
        "/v1/sends",
        json={
            "recipients": {"external_ids": ["ann"]},
            "content": {"body": "x"},
            "throttle": {"messages": 0, "per_minutes": 1},
        },
        headers=env.headers,
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "throttle.messages"
