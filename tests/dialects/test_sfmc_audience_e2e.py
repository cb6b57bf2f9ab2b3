"""sfmc list and tag sends, throttling, time-zone and scheduled sends, inbox messages."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from clarion.store.types import utcnow
from tests.broadcasts.support import arrivals, seed_audience
from tests.delivery_env import DeliveryEnv
from tests.dialects.test_sfmc_e2e import example

#: The example without its lists, throttling and time-zone fields.
PLAIN: dict[str, Any] = {
    "inclusionLists": None,
    "exclusionLists": None,
    "messagesPerPeriod": None,
    "minutesPerPeriod": None,
    "tzBased": None,
}


async def _definition(env: DeliveryEnv, **changes: Any) -> str:
    body = {k: v for k, v in example(env.app_id, **{**PLAIN, **changes}).items() if v is not None}
    response = await env.http.post("/push/v1/message", json=body, headers=env.headers)
    assert response.status_code == 201, response.text
    message_id: str = response.json()["id"]
    return message_id


async def _send(env: DeliveryEnv, route: str, message_id: str, body: dict[str, Any]) -> str:
    url = f"/push/v1/{route}/{message_id}/send"
    response = await env.http.post(url, json=body, headers=env.headers)
    assert response.status_code == 202, response.text
    token_id: str = response.json()["tokenId"]
    return token_id


async def _list(env: DeliveryEnv, *members: str) -> str:
    created = await env.http.post("/v1/lists", json={"name": "l"}, headers=env.headers)
    list_id: str = created.json()["id"]
    added = await env.http.post(
        f"/v1/lists/{list_id}/members", json={"external_ids": list(members)}, headers=env.headers
    )
    assert added.status_code == 200, added.text
    return list_id


async def _trail_when_planned(env: DeliveryEnv, send_id: str) -> dict[str, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        state = (await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)).json()
        if state["status"] in ("delivering", "done"):
            return {d["installation_id"]: d for d in await env.deliveries(send_id)}
        assert loop.time() < deadline, state
        await asyncio.sleep(0.05)


async def test_list_send_uses_the_definition_lists_and_throttling(env: DeliveryEnv) -> None:
    addresses = await seed_audience(env)
    members = await _list(env, "ann", "bob", "carol")
    excluded = await _list(env, "carol")
    message_id = await _definition(
        env,
        inclusionLists=[{"id": members}],
        exclusionLists=[{"id": excluded}],
        messagesPerPeriod=2,
        minutesPerPeriod=60,
    )
    token_id = await _send(env, "messageList", message_id, {})
    trail = await _trail_when_planned(env, token_id)
    assert set(trail) == {"ann-ios", "ann-android", "bob-web"}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while sorted(d["outcome"] for d in trail.values()) != ["sent", "sent", "throttled"]:
        assert loop.time() < deadline, trail
        await asyncio.sleep(0.05)
        trail = {d["installation_id"]: d for d in await env.deliveries(token_id)}
    assert sum(arrivals(env, addresses).values()) == 2
    (waiting,) = [d for d in trail.values() if d["outcome"] == "throttled"]
    first = min(datetime.fromisoformat(d["scheduled_at"]) for d in trail.values())
    assert datetime.fromisoformat(waiting["scheduled_at"]) == first + timedelta(minutes=60)
    cancelled = await env.http.post(f"/v1/sends/{token_id}/cancel", headers=env.headers)
    assert cancelled.json()["counts"]["cancelled"] == 1


async def test_list_in_the_body_replaces_the_definition_lists(env: DeliveryEnv) -> None:
    addresses = await seed_audience(env)
    carol = await _list(env, "carol")
    bob = await _list(env, "bob")
    message_id = await _definition(env, inclusionLists=[{"id": bob}])
    token_id = await _send(
        env, "messageList", message_id, {"inclusionListIds": [carol], "title": "For Carol"}
    )
    done = await env.wait_done(token_id)
    assert done["counts"]["sent"] == 1, done
    assert set(arrivals(env, addresses)) == {"carol-ios"}
    (apns,) = env.emulators.apns.deliveries
    assert apns.payload["aps"]["alert"]["title"] == "For Carol"


async def test_tag_send_reaches_any_inclusion_tag_without_exclusion_tags(
    env: DeliveryEnv,
) -> None:
    addresses = await seed_audience(env)
    message_id = await _definition(env)
    token_id = await _send(
        env,
        "messageTag",
        message_id,
        {"inclusionTags": ["sports", "news"], "exclusionTags": ["news"]},
    )
    done = await env.wait_done(token_id)
    assert done["kind"] == "broadcast" and done["counts"]["sent"] == 1, done
    assert set(arrivals(env, addresses)) == {"ann-android"}
    (fcm,) = env.emulators.fcm.deliveries
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"]["body"] == "Alert message to show on device"
    excluded = await _list(env, "ann")
    token_id = await _send(
        env, "messageTag", message_id, {"inclusionTags": ["news"], "exclusionListIds": [excluded]}
    )
    await env.wait_done(token_id)
    assert set(arrivals(env, addresses)) == {"ann-android", "bob-web"}


async def test_time_zone_sends_follow_the_past_send_action(env: DeliveryEnv) -> None:
    tokyo = await env.ios("tokyo", timezone="Asia/Tokyo", tags=["tz"])
    await env.android("utc", tags=["tz"])
    # Three hours ahead in UTC has already passed in Tokyo (UTC+9).
    wall = (utcnow() + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
    sends = {}
    for action in (1, 2, 3):
        message_id = await _definition(
            env, sendInitiator=0, tzBased=True, tzPastSendAction=str(action)
        )
        sends[action] = await _send(
            env, "messageTag", message_id, {"inclusionTags": ["tz"], "sendTime": wall}
        )
    trails = {action: await _trail_when_planned(env, s) for action, s in sends.items()}
    for trail in trails.values():
        assert trail["utc"]["outcome"] == "pending", trail
    assert trails[3]["tokyo"]["outcome"] == "skipped"
    assert trails[2]["tokyo"]["outcome"] == "pending"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not env.emulators.apns.deliveries:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    assert [d.target for d in env.emulators.apns.deliveries] == [tokyo]
    assert not env.emulators.fcm.deliveries
    for token_id in sends.values():
        await env.http.post(f"/v1/sends/{token_id}/cancel", headers=env.headers)


async def test_future_send_time_is_scheduled_in_the_definition_offset(env: DeliveryEnv) -> None:
    await env.android("pixel", tags=["later"])
    message_id = await _definition(env, scheduledTzOffset=-4.0)
    offset = timezone(timedelta(hours=-4))
    at = (utcnow() + timedelta(hours=2)).astimezone(offset).replace(second=0, microsecond=0)
    token_id = await _send(
        env,
        "messageTag",
        message_id,
        {"inclusionTags": ["later"], "sendTime": at.strftime("%Y-%m-%d %H:%M")},
    )
    state = (await env.http.get(f"/v1/sends/{token_id}", headers=env.headers)).json()
    assert state["status"] == "scheduled"
    assert datetime.fromisoformat(state["scheduled_at"]) == at
    cancelled = await env.http.post(f"/v1/sends/{token_id}/cancel", headers=env.headers)
    assert cancelled.json()["status"] == "cancelled"
    assert not env.emulators.fcm.deliveries


async def test_inbox_messages_are_stored_and_inbox_alerts_also_pushed(env: DeliveryEnv) -> None:
    await env.android("pixel", external_id="ann")
    page = {"pageId": 1, "url": "https://example.com/page", "subject": "Read me"}
    end = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    inbox_only = await _definition(
        env, messageType=8, contentType=2, alert=None, endDate=end.isoformat(), **page
    )
    both = await _definition(env, contentType=3, alert="Look", endDate=None, **page)
    stored = await _send(env, "messageContact", inbox_only, {"subscriberKeys": ["ann"]})
    done = await env.wait_done(stored)
    assert done["counts"]["inboxed"] == 1 and done["counts"]["sent"] == 0, done
    pushed = await _send(env, "messageContact", both, {"subscriberKeys": ["ann"]})
    done = await env.wait_done(pushed)
    assert done["counts"]["sent"] == 1, done
    (fcm,) = env.emulators.fcm.deliveries
    assert fcm.payload.get("message", fcm.payload)["notification"]["body"] == "Look"
    items = (await env.http.get("/v1/contacts/ann/inbox", headers=env.headers)).json()["data"]
    assert [(i["send_id"], i["body"], i["deeplink"]) for i in items] == [
        (pushed, "Look", "https://example.com/page"),
        (stored, "Read me", "https://example.com/page"),
    ]
    # The endDate bounds the item's life (counted from the send request).
    assert items[0]["expires_at"] is None
    lag = datetime.fromisoformat(items[1]["expires_at"]) - end
    assert timedelta(0) <= lag < timedelta(minutes=5), items[1]
