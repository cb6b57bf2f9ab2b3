"""Local-time broadcasts: one delivery time per time zone, and each past-time action."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from clarion.delivery.jobs import DELIVER
from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from clarion.store.types import utcnow
from tests.broadcasts.support import arrivals, seed_audience
from tests.delivery_env import DeliveryEnv

# seed_audience: ann-ios in Paris, bob-web in New York (his contact's zone), anon-ios in
# Tokyo, ann-android and carol-ios without any zone (UTC).
ZONES = {
    "ann-ios": "Europe/Paris",
    "bob-web": "America/New_York",
    "anon-ios": "Asia/Tokyo",
    "ann-android": "UTC",
    "carol-ios": "UTC",
}


def _wall_clock_in_three_hours() -> tuple[str, str]:
    """A local time that has passed in Tokyo (UTC+9) but not in UTC, Paris or New York."""
    wall = (utcnow() + timedelta(hours=3)).replace(second=0, microsecond=0)
    return wall.strftime("%H:%M"), wall.date().isoformat()


def _due(zone: str, local_time: str, day: str, days_later: int = 0) -> datetime:
    hours, minutes = (int(part) for part in local_time.split(":"))
    date = datetime.fromisoformat(day).date() + timedelta(days=days_later)
    return datetime(
        date.year, date.month, date.day, hours, minutes, tzinfo=ZoneInfo(zone)
    ).astimezone(UTC)


async def _job_times(database_url: str, send_id: str) -> dict[int, datetime]:
    """Run time of each delivery id's job."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(jobs.c.payload, jobs.c.run_at).where(
                    jobs.c.send_id == send_id, jobs.c.kind == DELIVER
                )
            )
            return {int(i): row.run_at for row in rows for i in row.payload["delivery_ids"]}
    finally:
        await engine.dispose()


async def _trail_when_planned(env: DeliveryEnv, send_id: str) -> dict[str, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        state = (await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)).json()
        if state["status"] in ("delivering", "done"):
            return {d["installation_id"]: d for d in await env.deliveries(send_id)}
        assert loop.time() < deadline, state
        await asyncio.sleep(0.05)


async def _local_send(env: DeliveryEnv, past_time: str) -> tuple[str, str, str]:
    local_time, day = _wall_clock_in_three_hours()
    send_id = await env.send(
        {
            "audience": {"all": True},
            "content": {"body": past_time},
            "schedule": {"local_time": local_time, "date": day, "past_time": past_time},
        }
    )
    return send_id, local_time, day


async def test_each_zone_gets_its_own_time_and_past_zones_follow_past_time(
    env: DeliveryEnv, database_url: str
) -> None:
    addresses = await seed_audience(env)
    results = {}
    for past_time in ("send_now", "next_day", "skip"):
        send_id, local_time, day = await _local_send(env, past_time)
        trail = await _trail_when_planned(env, send_id)
        times = await _job_times(database_url, send_id)
        for installation_id in ("ann-ios", "bob-web", "ann-android", "carol-ios"):
            delivery = trail[installation_id]
            assert delivery["outcome"] == "pending"
            expected = _due(ZONES[installation_id], local_time, day)
            assert times[delivery["id"]] == expected, installation_id
        results[past_time] = (send_id, trail["anon-ios"], times, local_time, day)

    # send_now: Tokyo's time has passed, so its device got the notification at once.
    send_id, tokyo, times, _, _ = results["send_now"]
    # (A claimed job's run_at holds its lease expiry, so only its existence is checked.)
    assert tokyo["id"] in times
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while arrivals(env, addresses)["anon-ios"] == 0:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    # next_day: the same wall-clock time one day later in Tokyo.
    _, tokyo, times, local_time, day = results["next_day"]
    assert times[tokyo["id"]] == _due("Asia/Tokyo", local_time, day, days_later=1)
    # skip: recorded as skipped, never queued.
    _, tokyo, times, _, _ = results["skip"]
    assert tokyo["outcome"] == "skipped" and tokyo["id"] not in times
    assert tokyo["completed_at"] is not None

    # Only the send_now copy for Tokyo went out; every other copy waits for its time.
    assert arrivals(env, addresses) == {"anon-ios": 1}
    # Cancelling now stops every copy still waiting (next_day's Tokyo copy too).
    waiting = {"send_now": 4, "next_day": 5, "skip": 4}
    for past_time, (send_id, *_) in results.items():
        cancelled = await env.http.post(f"/v1/sends/{send_id}/cancel", headers=env.headers)
        assert cancelled.status_code == 200, cancelled.text
        counts = cancelled.json()["counts"]
        assert counts["pending"] == 0 and counts["cancelled"] == waiting[past_time], counts
