"""sfmc message definitions (the seed example) sent to explicit recipients, via the emulators."""

from __future__ import annotations

import copy
from typing import Any

from tests.delivery_env import DeliveryEnv

EXAMPLE: dict[str, Any] = {
    "messageType": 1,
    "contentType": 1,
    "name": "My Message Name",
    "application": {"id": "237690ac-41ff-4d3f-82f2-9c7efd89185f", "name": "MyApplication"},
    "alert": "Alert message to show on device",
    "sound": "Sound to play, or 'default'",
    "badge": "+1",
    "content-available": 1,
    "openDirect": "OD001",
    "keys": [
        {"key": "key01", "value": "value01"},
        {"key": "key02", "value": "value02"},
        {"key": "key03", "value": "value03"},
    ],
    "custom": {"customA": 1, "customB": "custom text b", "customC": {"cC": "custom text c"}},
    "sendInitiator": 0,
    "startDate": "2014-04-30T14:50:00Z",
    "endDate": "2014-04-30T14:55:00Z",
    "messagesPerPeriod": 1000,
    "minutesPerPeriod": 60,
    "numberOfPeriods": 24,
    "periodType": 5,
    "isRollingPeriod": False,
    "messageLimit": 1,
    "tzBased": True,
    "tzPastSendAction": 0,
    "scheduledTzOffset": -4.0,
    "scheduledTzSupportsDst": True,
    "inclusionLists": [{"id": "listID01"}, {"id": "listID02"}, {"id": "listID03"}],
    "exclusionLists": [{"id": "listID04"}, {"id": "listID05"}, {"id": "listID06"}],
    "status": 2,
    "pageId": 456,
    "url": "http://www.example.com",
    "subject": "My inbox subject line",
    "media": {
        "iosUrl": "https://example.com",
        "androidUrl": "https://example.com",
        "alt": "Example ALT Text",
    },
    "geofences": [{"id": "MTIzOjEyODow"}, {"id": "MzIxOjEyODow"}],
}


def example(app_id: str, **changes: Any) -> dict[str, Any]:
    """The example with its application pointing at a Clarion app, plus changes."""
    body = copy.deepcopy(EXAMPLE)
    body["application"]["id"] = app_id
    body.update(changes)
    return body


async def _create(env: DeliveryEnv, body: dict[str, Any]) -> str:
    response = await env.http.post("/push/v1/message", json=body, headers=env.headers)
    assert response.status_code == 201, response.text
    message_id: str = response.json()["id"]
    return message_id


async def _send(env: DeliveryEnv, route: str, message_id: str, body: dict[str, Any]) -> str:
    url = f"/push/v1/{route}/{message_id}/send"
    response = await env.http.post(url, json=body, headers=env.headers)
    assert response.status_code == 202, response.text
    token_id: str = response.json()["tokenId"]
    done = await env.wait_done(token_id)
    assert done["counts"]["pending"] == 0, done
    return token_id


async def test_documented_example_is_stored_echoed_and_sent(env: DeliveryEnv) -> None:
    response = await env.http.post(
        "/push/v1/message", json=example(env.app_id), headers=env.headers
    )
    assert response.status_code == 201, response.text
    echo = response.json()
    expected = {k: v for k, v in example(env.app_id).items() if k in echo}
    assert echo == {"id": echo["id"], **expected}
    # The documented response drops what an outbound alert does not use.
    for dropped in ("endDate", "pageId", "url", "subject", "geofences"):
        assert dropped not in echo and dropped in EXAMPLE
    assert echo["tzBased"] is True and echo["messagesPerPeriod"] == 1000
    fetched = await env.http.get(f"/push/v1/message/{echo['id']}", headers=env.headers)
    assert fetched.json() == echo

    ios = await env.ios("iphone")
    android = await env.android("pixel")
    carol = await env.web("browser", external_id="carol")
    token_id = await _send(
        env,
        "messageContact",
        echo["id"],
        {"deviceTokens": [ios, android], "subscriberKeys": ["carol"]},
    )
    trail = await env.deliveries(token_id)
    assert sorted(d["outcome"] for d in trail) == ["sent", "sent", "sent"]
    (apns,) = env.emulators.apns.deliveries
    aps = apns.payload["aps"]
    assert aps["alert"]["body"] == "Alert message to show on device"
    assert aps["sound"] == "Sound to play, or 'default'" and aps["content-available"] == 1
    assert apns.payload["key01"] == "value01" and apns.payload["customC"] == {"cC": "custom text c"}
    assert apns.payload["_od"] == "OD001" and apns.payload["_mediaAlt"] == "Example ALT Text"
    (fcm,) = env.emulators.fcm.deliveries
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"]["body"] == "Alert message to show on device"
    assert message["data"]["key02"] == "value02"
    (web,) = env.emulators.webpush.deliveries_for(carol)
    assert web.payload["body"] == "Alert message to show on device"


async def test_override_and_batch_sends_carry_their_own_text(env: DeliveryEnv) -> None:
    message_id = await _create(env, example(env.app_id, alert=None, title="Original"))
    token = await env.android("pixel")
    await _send(
        env,
        "messageContact",
        message_id,
        {"deviceTokens": [token], "override": True, "messageText": "Overridden", "title": "New"},
    )
    await _send(
        env,
        "messageBatch",
        message_id,
        {"deviceTokens": [token], "message": [{"alert": "Batch text", "badge": "3"}]},
    )
    first, second = (d.payload.get("message", d.payload) for d in env.emulators.fcm.deliveries)
    assert first["notification"]["body"] == "Overridden"
    assert first["notification"]["title"] == "New"
    assert second["notification"]["body"] == "Batch text"
    assert second["notification"]["title"] == "Original"
