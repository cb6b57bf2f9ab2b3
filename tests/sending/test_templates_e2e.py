"""Sends by template_id delivered through the APNs, FCM and Web Push emulators."""

from __future__ import annotations

import json
from typing import Any

from tests.delivery_env import DeliveryEnv

ORDER_SHIPPED: dict[str, Any] = {
    "name": "Order shipped",
    "contents": [
        {
            "title": "Order {{ params.order }} shipped",
            "body": "Hi {{ contact.attributes.first_name | default: 'there' }}",
            "deeplink": "app://orders/{{ params.order }}",
            "data": {"order": "{{ params.order }}", "kind": "shipping"},
        },
        {
            "language": "pt-PT",
            "title": "Encomenda {{ params.order }} enviada",
            "body": "Olá {{ contact.attributes.first_name }}",
            "deeplink": "app://orders/{{ params.order }}?lang=pt",
            "data": {"order": "{{ params.order }}", "kind": "shipping"},
        },
        {"language": "fr", "title": "Commande {{ params.order }}", "body": "Expédiée"},
    ],
    "options": {"priority": "high", "collapse_key": "order", "ttl": 3600},
}


async def make_template(env: DeliveryEnv, body: dict[str, Any]) -> str:
    """Create a template through the API and return its id."""
    response = await env.http.post("/v1/templates", json=body, headers=env.headers)
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


async def test_template_send_personalizes_and_picks_languages_on_every_platform(
    env: DeliveryEnv,
) -> None:
    template_id = await make_template(env, ORDER_SHIPPED)
    await env.http.put(
        "/v1/contacts/rui", json={"attributes": {"first_name": "Rui"}}, headers=env.headers
    )
    iphone = await env.ios("rui-iphone", external_id="rui", language="pt-BR")
    pixel = await env.android("rui-pixel", external_id="rui", language="fr-CA")
    endpoint = await env.web("rui-browser", external_id="rui", language="ja")
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["rui"]},
            "template_id": template_id,
            "params": {"order": "A-42"},
            "options": {"priority": "normal"},
        }
    )
    done = await env.wait_done(send_id)
    assert done["counts"]["sent"] == 3, done

    (apns,) = [d for d in env.emulators.apns.deliveries if d.target == iphone]
    assert apns.payload["aps"]["alert"] == {"title": "Encomenda A-42 enviada", "body": "Olá Rui"}
    assert apns.payload["clarion"]["deeplink"] == "app://orders/A-42?lang=pt"
    assert apns.payload["order"] == "A-42" and apns.payload["kind"] == "shipping"
    # The request's explicit priority wins; the template's other defaults apply.
    assert apns.headers["apns-priority"] == "5" and apns.headers["apns-collapse-id"] == "order"

    (fcm,) = [d for d in env.emulators.fcm.deliveries if d.target == pixel]
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"] == {"title": "Commande A-42", "body": "Expédiée"}
    assert message["android"]["ttl"] == "3600s"

    (web,) = env.emulators.webpush.deliveries_for(endpoint)
    assert web.payload["title"] == "Order A-42 shipped" and web.payload["body"] == "Hi Rui"
    assert web.payload["url"] == "app://orders/A-42"
    assert web.payload["data"] == {"order": "A-42", "kind": "shipping"}

    trail = {d["installation_id"]: d["language"] for d in await env.deliveries(send_id)}
    assert trail == {"rui-iphone": "pt-PT", "rui-pixel": "fr", "rui-browser": None}


async def test_language_override_and_missing_params_render_by_the_rules(env: DeliveryEnv) -> None:
    template_id = await make_template(env, ORDER_SHIPPED)
    brazil = await env.android("br-pixel", language="pt-BR")
    plain = await env.android("plain-pixel")
    send_id = await env.send(
        {"recipients": {"tokens": [brazil, plain]}, "template_id": template_id, "language": "fr-FR"}
    )
    assert (await env.wait_done(send_id))["counts"]["sent"] == 2
    (overridden,) = [d for d in env.emulators.fcm.deliveries if d.target == brazil]
    notification = overridden.payload.get("message", overridden.payload)["notification"]
    # The send's language wins over the device's pt-BR, and reaches devices without one.
    assert notification["title"] == "Commande "
    (fcm,) = [d for d in env.emulators.fcm.deliveries if d.target == plain]
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"] == {"title": "Commande ", "body": "Expédiée"}


async def test_missing_variables_render_empty_and_defaults_apply(env: DeliveryEnv) -> None:
    template_id = await make_template(env, ORDER_SHIPPED)
    plain = await env.android("anon-pixel")
    send_id = await env.send({"recipients": {"tokens": [plain]}, "template_id": template_id})
    assert (await env.wait_done(send_id))["counts"]["sent"] == 1
    (fcm,) = [d for d in env.emulators.fcm.deliveries if d.target == plain]
    message = fcm.payload.get("message", fcm.payload)
    # No contact and no params: missing variables render empty, the default filter applies.
    assert message["notification"] == {"title": "Order  shipped", "body": "Hi there"}
    assert json.loads(message["data"]["clarion"])["deeplink"] == "app://orders/"
    assert message["data"]["order"] == ""
