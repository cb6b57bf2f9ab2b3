"""dengage SendTransactionalPush requests delivered through the emulators."""

from __future__ import annotations

from typing import Any

from tests.delivery_env import DeliveryEnv


async def _template(env: DeliveryEnv) -> str:
    response = await env.http.post(
        "/v1/templates",
        json={
            "name": "Order shipped",
            "contents": [
                {"title": "Hi {{ params.name }}", "body": "Order {{ current.order }} shipped"},
                {
                    "language": "fr",
                    "title": "Salut {{ params.name }}",
                    "body": "Commande {{ current.order }} partie",
                },
            ],
            "options": {"collapse_key": "orders"},
        },
        headers=env.headers,
    )
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


async def _push(env: DeliveryEnv, body: dict[str, Any]) -> dict[str, Any]:
    response = await env.http.post("/api/transactional/push", json=body, headers=env.headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["success"] is True
    return answer


async def test_contact_send_to_all_devices_with_personalization(env: DeliveryEnv) -> None:
    ios = await env.ios("iphone", external_id="ann", language="de")
    android = await env.android("pixel", external_id="ann")
    body = {
        "contactKey": "ann",
        "sendToAll": True,
        "templateId": await _template(env),
        "current": {"order": "A-42"},
        "customParameters": [{"key": "name", "value": "Ann"}],
        "language": "fr",
        "tags": ["orders"],
        "fallbackChannel": {
            "channel": "SMS",
            "message": "Order shipped",
            "phoneNumber": "+14155550123",
        },
        "inboxParams": {"saveToInbox": True, "expireDate": "2030-01-01T00:00:00Z"},
        "traceId": "order-A-42",
    }
    answer = await _push(env, body)
    assert answer["traceId"] == "order-A-42"
    done = await env.wait_done(answer["messageId"])
    assert done["counts"]["sent"] == 2, done
    (apns,) = [d for d in env.emulators.apns.deliveries if d.target == ios]
    assert apns.payload["aps"]["alert"] == {"title": "Salut Ann", "body": "Commande A-42 partie"}
    assert apns.headers["apns-collapse-id"] == "orders"
    (fcm,) = [d for d in env.emulators.fcm.deliveries if d.target == android]
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"]["title"] == "Salut Ann", fcm.payload
    replay = await _push(env, body)
    assert replay["messageId"] == answer["messageId"]
    assert len(env.emulators.apns.deliveries) == 1


async def test_token_send_reaches_only_that_device(env: DeliveryEnv) -> None:
    await env.ios("iphone", external_id="bob")
    android = await env.android("pixel", external_id="bob")
    body = {
        "appId": env.app_id,
        "token": android,
        "templateId": await _template(env),
        "current": {"order": "B-7"},
        "customParameters": [{"key": "name", "value": "Bob"}],
    }
    answer = await _push(env, body)
    done = await env.wait_done(answer["messageId"])
    assert done["counts"]["sent"] == 1 and done["counts"]["targeted"] == 1, done
    assert not env.emulators.apns.deliveries
    (fcm,) = env.emulators.fcm.deliveries
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"]["body"] == "Order B-7 shipped"
    (trail,) = await env.deliveries(answer["messageId"])
    assert trail["recipient"] == {"kind": "token", "value": android}
