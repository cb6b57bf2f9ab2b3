"""POST /v1/sends/preview: the provider requests a send would make, with nothing sent or stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from clarion.domain.limits import APNS_PAYLOAD_LIMIT, FCM_PAYLOAD_LIMIT, WEBPUSH_PLAINTEXT_LIMIT
from clarion.store.engine import create_engine
from clarion.store.send_tables import sends
from tests.conftest import error_of
from tests.delivery_env import TOPIC, DeliveryEnv

CONTENTS: list[dict[str, Any]] = [
    {
        "title": "Hello {{ contact.attributes.first_name }}",
        "body": "Your code is {{ params.code }}",
        "deeplink": "https://example.com/codes/{{ params.code }}",
        "data": {"code": "{{ params.code }}"},
        "sound": "default",
        "badge": 3,
    },
    {
        "language": "pt-PT",
        "title": "Olá {{ contact.attributes.first_name }}",
        "body": "O seu código é {{ params.code }}",
        "data": {"code": "{{ params.code }}"},
    },
]
OPTIONS: dict[str, Any] = {"collapse_key": "codes", "priority": "high"}


async def preview(env: DeliveryEnv, body: dict[str, Any]) -> Any:
    """POST a preview and return the response."""
    return await env.http.post("/v1/sends/preview", json=body, headers=env.headers)


async def send_rows(database_url: str, project_id: str) -> int:
    """How many sends the project has in the database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(sends).where(sends.c.project_id == project_id)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def lowered(headers: dict[str, str]) -> dict[str, str]:
    """Headers with lower-case names, for comparing across HTTP stacks."""
    return {name.lower(): value for name, value in headers.items()}


async def test_preview_matches_what_the_emulators_receive_and_sends_nothing(
    env: DeliveryEnv, database_url: str
) -> None:
    await env.http.put(
        "/v1/contacts/eva", json={"attributes": {"first_name": "Eva"}}, headers=env.headers
    )
    iphone = await env.ios("eva-iphone", external_id="eva", language="pt-BR")
    pixel = await env.android("eva-pixel", external_id="eva", language="en-GB")
    endpoint = await env.web("eva-browser", external_id="eva")
    body = {"contents": CONTENTS, "options": OPTIONS, "params": {"code": "7781"}}
    answer = await preview(env, body | {"recipient": {"external_id": "eva", "all_devices": True}})
    assert answer.status_code == 200, answer.text
    devices = {d["installation_id"]: d for d in answer.json()["devices"]}
    assert set(devices) == {"eva-iphone", "eva-pixel", "eva-browser"}

    # Nothing reached a provider and nothing was stored.
    assert not env.emulators.apns.deliveries and not env.emulators.fcm.deliveries
    assert not env.emulators.webpush.deliveries_for(endpoint)
    assert await send_rows(database_url, env.project_id) == 0

    ios = devices["eva-iphone"]
    assert (ios["platform"], ios["provider"], ios["app_id"]) == ("ios", "apns", env.app_id)
    assert ios["language"] == "pt-PT"
    assert ios["request"]["path"] == f"/3/device/{iphone}"
    assert ios["request"]["headers"]["apns-topic"] == TOPIC
    assert ios["request"]["json"]["aps"]["alert"]["title"] == "Olá Eva"
    assert (
        ios["size"] == len(ios["request"]["body"].encode()) and ios["limit"] == APNS_PAYLOAD_LIMIT
    )
    android = devices["eva-pixel"]
    assert android["language"] is None and android["limit"] == FCM_PAYLOAD_LIMIT
    assert android["request"]["path"].endswith("/messages:send")
    web = devices["eva-browser"]
    assert web["request"]["url"] == endpoint and web["limit"] == WEBPUSH_PLAINTEXT_LIMIT
    assert web["request"]["json"]["title"] == "Hello Eva"

    send_id = await env.send(body | {"recipients": {"external_ids": ["eva"]}})
    assert (await env.wait_done(send_id))["counts"]["sent"] == 3

    (apns,) = [d for d in env.emulators.apns.deliveries if d.target == iphone]
    assert apns.body == ios["request"]["body"].encode("utf-8")
    assert ios["request"]["headers"].items() <= lowered(apns.headers).items()
    (fcm,) = [d for d in env.emulators.fcm.deliveries if d.target == pixel]
    assert fcm.payload == android["request"]["json"]["message"]
    (pushed,) = env.emulators.webpush.deliveries_for(endpoint)
    assert pushed.payload == web["request"]["json"]
    received = lowered(pushed.headers)
    for name, value in web["request"]["headers"].items():
        assert received[name.lower()] == value, name


async def test_recipient_forms_pick_devices(env: DeliveryEnv) -> None:
    await env.ios("old-phone", external_id="max", language="fr")
    newest = await env.android("new-phone", external_id="max")
    body: dict[str, Any] = {"content": {"body": "hi"}}

    one = await preview(
        env, body | {"recipient": {"app_id": env.app_id, "installation_id": "old-phone"}}
    )
    assert [d["installation_id"] for d in one.json()["devices"]] == ["old-phone"]
    by_token = await preview(env, body | {"recipient": {"token": newest}})
    assert [d["installation_id"] for d in by_token.json()["devices"]] == ["new-phone"]
    recent = await preview(env, body | {"recipient": {"external_id": "max"}})
    assert [d["installation_id"] for d in recent.json()["devices"]] == ["new-phone"]
    every = await preview(env, body | {"recipient": {"external_id": "max", "all_devices": True}})
    assert {d["installation_id"] for d in every.json()["devices"]} == {"old-phone", "new-phone"}

    nobody = await preview(env, body | {"recipient": {"external_id": "nobody"}})
    assert nobody.status_code == 404 and error_of(nobody)["field"] == "recipient"
    for recipient in (
        {"token": newest, "external_id": "max"},
        {"installation_id": "old-phone"},
        {},
    ):
        refused = await preview(env, body | {"recipient": recipient})
        assert refused.status_code == 400, refused.text
        assert error_of(refused)["field"] == "recipient"
    bad_content = await preview(env, {"content": {"title": "{{ x"}, "recipient": {"token": newest}})
    assert bad_content.status_code == 400 and error_of(bad_content)["field"] == "content.title"


async def test_preview_of_a_template_and_its_refusals(env: DeliveryEnv) -> None:
    token = await env.ios("tpl-phone", language="pt-BR")
    created = await env.http.post(
        "/v1/templates",
        json={"name": "Codes", "contents": CONTENTS, "options": OPTIONS},
        headers=env.headers,
    )
    template_id = created.json()["id"]
    answer = await preview(
        env,
        {
            "template_id": template_id,
            "params": {"code": "12"},
            "options": {"ttl": 60},
            "recipient": {"token": token},
        },
    )
    assert answer.status_code == 200, answer.text
    (device,) = answer.json()["devices"]
    assert device["language"] == "pt-PT"
    request = device["request"]
    assert request["json"]["aps"]["alert"]["body"] == "O seu código é 12"
    assert (
        request["headers"]["apns-collapse-id"] == "codes"
        and "apns-expiration" in request["headers"]
    )
    await env.http.patch(
        f"/v1/templates/{template_id}", json={"status": "inactive"}, headers=env.headers
    )
    inactive = await preview(env, {"template_id": template_id, "recipient": {"token": token}})
    assert inactive.status_code == 422 and error_of(inactive)["code"] == "TEMPLATE_INACTIVE"
    assert not env.emulators.apns.deliveries
