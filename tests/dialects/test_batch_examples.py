"""Every example payload of the batch document, sent through the dialect to the emulators."""

from __future__ import annotations

import json
from typing import Any

from clarion.store import sends as send_store
from tests.delivery_env import DeliveryEnv

MINIMAL = {
    "group_id": "order_confirmed",
    "recipients": {"custom_ids": ["USER_ID"]},
    "message": {
        "title": "Your order is confirmed!",
        "body": "We will send you a shipping confirmation alert as soon as your order ships.",
    },
}
LANDING = {
    "theme": "MODAL-WITH-IMAGE",
    "image": "https://batch-store.com/img/sunglasses.jpg",
    "tracking_id": "order confirmation",
    "image_description": "Item preview",
    "header": "Thank you!",
    "title": "Your order has been confirmed!",
    "body": "Check the status of your order now or keep shopping.",
    "actions": [
        {
            "action": "batch.deeplink",
            "label": "Check Status",
            "args": {"l": "https://batch-store.com/order-status"},
        },
        {"action": "batch.dismiss", "label": "Later"},
    ],
}
MESSAGES = [
    {
        "language": "fr",
        "title": "Votre commande est confirmée !",
        "body": "Nous vous enverrons une alerte dès qu'elle sera expédiée.",
    },
    {
        "language": "es",
        "title": "¡Tu pedido está confirmado!",
        "body": "Te enviaremos una alerta cuando tu pedido sea enviado.",
    },
    {
        "title": "Your order is confirmed!",
        "body": "We will send you a shipping confirmation alert as soon as your order ships.",
    },
]


def _landing_content(language: str | None, header: str, title: str, label: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "header": header,
        "title": title,
        "body": "...",
        "image_description": "preview",
        "actions": [
            {
                "action": "batch.deeplink",
                "label": label,
                "args": {"l": "https://batch-store.com/order-status"},
            },
            {"action": "batch.dismiss", "label": "Later"},
        ],
    }
    if language:
        content["language"] = language
    return content


LOCALIZED_LANDING = {
    "theme": "MODAL-WITH-IMAGE",
    "image": "https://batch-store.com/img/sunglasses.jpg",
    "tracking_id": "order confirmation",
    "contents": [
        _landing_content("fr", "Merci !", "Votre commande est confirmée", "Vérifier le statut"),
        _landing_content("es", "¡Gracias!", "Tu pedido está confirmado", "Revisar el estado"),
        _landing_content(None, "Thank you!", "Your order has been confirmed!", "Check Status"),
    ],
}


async def batch_send(env: DeliveryEnv, body: Any, app_id: str | None = None) -> str:
    """POST to the batch route with the project's key and return the token."""
    response = await env.http.post(
        f"/1.1/{app_id or env.app_id}/transactional/send",
        json=body,
        headers={"X-Authorization": env.key},
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"token"}
    token: str = response.json()["token"]
    return token


def fcm_message(env: DeliveryEnv, token: str) -> dict[str, Any]:
    """The one FCM message that reached a device."""
    (record,) = [d for d in env.emulators.fcm.deliveries if d.target == token]
    message: dict[str, Any] = record.payload.get("message", record.payload)
    return message


def apns_record(env: DeliveryEnv, token: str) -> Any:
    """The one APNs request that reached a device."""
    (record,) = [d for d in env.emulators.apns.deliveries if d.target == token]
    return record


async def test_minimal_example_and_token_in_debug_endpoints(env: DeliveryEnv) -> None:
    android = await env.android("pixel", external_id="USER_ID")
    token = await batch_send(env, MINIMAL)
    done = await env.wait_done(token)
    assert done["id"] == token and done["counts"]["sent"] == 1
    notification = fcm_message(env, android)["notification"]
    assert notification == {
        "title": "Your order is confirmed!",
        "body": "We will send you a shipping confirmation alert as soon as your order ships.",
    }
    (trail,) = await env.deliveries(token)
    assert trail["recipient"] == {"kind": "external_id", "value": "USER_ID"}
    assert trail["outcome"] == "sent" and trail["token"] == android


async def test_landing_example_reaches_the_device(env: DeliveryEnv) -> None:
    ios = await env.ios("iphone", external_id="USER_ID")
    token = await batch_send(env, MINIMAL | {"landing": LANDING})
    assert (await env.wait_done(token))["counts"]["sent"] == 1
    payload = apns_record(env, ios).payload
    assert payload["aps"]["alert"]["title"] == "Your order is confirmed!"
    landing = payload["clarion"]["landing"]
    assert landing["theme"] == "MODAL-WITH-IMAGE" and landing["header"] == "Thank you!"
    assert landing["actions"][0] == LANDING["actions"][0]  # type: ignore[index]
    assert landing["actions"][1] == {"action": "batch.dismiss", "label": "Later"}


async def test_localized_messages_example_picks_each_language(env: DeliveryEnv) -> None:
    french = await env.android("fr-phone", external_id="USER_ID", language="fr-CA")
    spanish = await env.ios("es-phone", external_id="USER_ID", language="es")
    german = await env.android("de-phone", external_id="USER_ID", language="de")
    body = {k: v for k, v in MINIMAL.items() if k != "message"} | {"messages": MESSAGES}
    token = await batch_send(env, body)
    assert (await env.wait_done(token))["counts"]["sent"] == 3
    assert fcm_message(env, french)["notification"]["title"] == "Votre commande est confirmée !"
    alert = apns_record(env, spanish).payload["aps"]["alert"]
    assert alert["title"] == "¡Tu pedido está confirmado!", alert
    assert fcm_message(env, german)["notification"]["title"] == "Your order is confirmed!"


async def test_localized_landing_example_travels_with_every_language(env: DeliveryEnv) -> None:
    french = await env.ios("fr-phone", external_id="USER_ID", language="fr")
    body = {k: v for k, v in MINIMAL.items() if k != "message"}
    token = await batch_send(env, body | {"messages": MESSAGES, "landing": LOCALIZED_LANDING})
    assert (await env.wait_done(token))["counts"]["sent"] == 1
    payload = apns_record(env, french).payload
    assert payload["aps"]["alert"]["body"].startswith("Nous vous enverrons")
    contents = payload["clarion"]["landing"]["contents"]
    assert [c.get("language") for c in contents] == ["fr", "es", None]
    assert contents[0]["actions"][0]["label"] == "Vérifier le statut"


async def test_every_option_reaches_the_providers(env: DeliveryEnv) -> None:
    ios = await env.ios("iphone")
    android = await env.android("pixel", external_id="ann")
    body = {
        "group_id": "all-options",
        "recipients": {"tokens": [ios, android]},
        "message": {"body": "Just keep training, you'll get better"},
        "priority": "normal",
        "time_to_live": 3600,
        "gcm_collapse_key": {"enabled": True, "key": "training"},
        "deeplink": "recipe-app://recipes/desserts/peach-pie",
        "media": {"picture": "https://cdn.example.com/pic.png"},
        "skip_media_check": "true",
        "sandbox": False,
        "wp_template": "generic",
        "custom_payload": json.dumps({"x": "y", "com.batch": {"t": 1}, "count": 3}),
    }
    token = await batch_send(env, body)
    assert (await env.wait_done(token))["counts"]["sent"] == 2
    apns = apns_record(env, ios)
    assert apns.headers["apns-priority"] == "5"
    assert apns.headers["apns-collapse-id"] == "training"
    assert int(apns.headers["apns-expiration"]) > 0
    assert apns.payload["x"] == "y" and apns.payload["count"] == 3
    assert "com.batch" not in apns.payload
    assert apns.payload["clarion"]["deeplink"] == "recipe-app://recipes/desserts/peach-pie"
    assert apns.payload["aps"]["mutable-content"] == 1
    fcm = fcm_message(env, android)
    assert fcm["android"]["priority"] == "NORMAL" and fcm["android"]["ttl"] == "3600s"
    assert fcm["android"]["collapse_key"] == "training"
    assert fcm["data"]["x"] == "y" and "com.batch" not in fcm["data"]
    assert fcm["notification"]["image"] == "https://cdn.example.com/pic.png"


async def test_background_push_is_silent(env: DeliveryEnv) -> None:
    ios = await env.ios("iphone", external_id="bg")
    body = {
        "group_id": "sync",
        "recipients": {"custom_ids": ["bg"]},
        "push_type": "background",
        "custom_payload": '{"sync": "inbox"}',
    }
    token = await batch_send(env, body)
    assert (await env.wait_done(token))["counts"]["sent"] == 1
    apns = apns_record(env, ios)
    assert apns.headers["apns-push-type"] == "background"
    assert apns.payload["aps"] == {"content-available": 1}
    assert apns.payload["sync"] == "inbox"


async def test_install_and_advertising_ids_and_labels(env: DeliveryEnv) -> None:
    web = await env.web("browser")
    advertising_id = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    android = await env.android("pixel", advertising_id=advertising_id)
    body = {
        "group_id": "ids",
        "labels": ["promo", "weekly"],
        "recipients": {"install_ids": ["browser"], "advertising_ids": [advertising_id]},
        "message": {"title": "Hi", "body": "there"},
    }
    token = await batch_send(env, body)
    assert (await env.wait_done(token))["counts"]["sent"] == 2
    (pushed,) = env.emulators.webpush.deliveries_for(web)
    assert pushed.payload["title"] == "Hi"
    assert fcm_message(env, android)["notification"]["body"] == "there"
    kinds = {d["recipient"]["kind"] for d in await env.deliveries(token)}
    assert kinds == {"installation_id", "advertising_id"}
    state = env.http._transport.app.state.clarion  # type: ignore[attr-defined]
    async with state.engine.connect() as conn:
        row = await send_store.get_send(conn, token)
    assert row is not None
    assert row["request"]["message"]["options"]["labels"] == ["promo", "weekly"]
