"""SDK events: public-key authentication, validation, counts in send stats, last engagement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clarion.api.v1 import events as events_api
from clarion.api.v1.events import TokenBuckets
from tests.conftest import error_of
from tests.delivery_env import DeliveryEnv


async def public_key(env: DeliveryEnv, app_id: str) -> str:
    """The SDK key of an app."""
    response = await env.http.get(f"/v1/apps/{app_id}", headers=env.headers)
    assert response.status_code == 200, response.text
    key: str = response.json()["public_key"]
    return key


async def post_event(
    env: DeliveryEnv, key: str, body: dict[str, Any], header: str = "bearer"
) -> Any:
    """POST /v1/events with the key in the chosen header."""
    headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"Clarion-App-Key": key}
    return await env.http.post("/v1/events", json=body, headers=headers)


async def test_open_and_click_counts_and_last_engagement(env: DeliveryEnv) -> None:
    await env.ios("phone-a", external_id="ann")
    await env.android("phone-b", external_id="bob")
    await env.android("phone-c", external_id="cid")
    send_id = await env.send(
        {"recipients": {"external_ids": ["ann", "bob", "cid"]}, "content": {"body": "Hi"}}
    )
    done = await env.wait_done(send_id)
    assert done["counts"]["opened"] == 0 and done["counts"]["clicked"] == 0
    key = await public_key(env, env.app_id)
    trail = {d["installation_id"]: d for d in await env.deliveries(send_id)}
    opened_at = datetime.now(UTC) - timedelta(minutes=1)
    for body, header in [
        ({"installation_id": "phone-a", "type": "received", "send_id": send_id}, "bearer"),
        (
            {
                "installation_id": "phone-a",
                "type": "opened",
                "send_id": send_id,
                "at": opened_at.isoformat(),
            },
            "bearer",
        ),
        # The same device opening twice still counts once.
        ({"installation_id": "phone-a", "type": "opened", "send_id": send_id}, "app-key"),
        (
            {
                "installation_id": "phone-b",
                "type": "clicked",
                "delivery_id": trail["phone-b"]["id"],
            },
            "app-key",
        ),
        ({"installation_id": "phone-c", "type": "dismissed", "send_id": send_id}, "bearer"),
    ]:
        response = await post_event(env, key, body, header)
        assert response.status_code == 202, response.text
    assert response.json()["send_id"] == send_id
    stats = (await env.http.get(f"/v1/sends/{send_id}", headers=env.headers)).json()
    assert stats["counts"]["opened"] == 1 and stats["counts"]["clicked"] == 1
    # The delivery id alone tells the send the click belongs to.
    assert stats["counts"]["sent"] == 3

    devices = {}
    for installation_id in ("phone-a", "phone-b", "phone-c"):
        url = f"/v1/apps/{env.app_id}/installations/{installation_id}"
        devices[installation_id] = (await env.http.get(url, headers=env.headers)).json()
    engaged_a = datetime.fromisoformat(devices["phone-a"]["last_engaged_at"])
    assert engaged_a > opened_at
    assert devices["phone-b"]["last_engaged_at"] is not None
    assert devices["phone-c"]["last_engaged_at"] is None

    # An older event never moves the last engagement backwards.
    response = await post_event(
        env, key, {"installation_id": "phone-a", "type": "clicked", "at": opened_at.isoformat()}
    )
    assert response.status_code == 202
    url = f"/v1/apps/{env.app_id}/installations/phone-a"
    again = (await env.http.get(url, headers=env.headers)).json()
    assert datetime.fromisoformat(again["last_engaged_at"]) == engaged_a


async def test_only_the_apps_public_key_is_accepted(env: DeliveryEnv) -> None:
    await env.ios("phone-a")
    body = {"installation_id": "phone-a", "type": "opened"}
    missing = await env.http.post("/v1/events", json=body)
    assert missing.status_code == 401
    assert error_of(missing)["code"] == "AUTHENTICATION_REQUIRED"
    secret = await post_event(env, env.key, body)
    assert secret.status_code == 401
    assert error_of(secret)["code"] == "AUTHENTICATION_INVALID"

    other_app = f"{env.project_id}-other"
    created = await env.http.post(
        "/v1/apps", json={"id": other_app, "name": "Other"}, headers=env.headers
    )
    assert created.status_code == 201, created.text
    foreign = await post_event(env, await public_key(env, other_app), body)
    assert foreign.status_code == 404
    assert error_of(foreign)["field"] == "installation_id"
    assert (await post_event(env, await public_key(env, env.app_id), body)).status_code == 202


async def test_bad_events_are_refused_with_the_field_at_fault(env: DeliveryEnv) -> None:
    await env.ios("phone-a")
    key = await public_key(env, env.app_id)
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"installation_id": "phone-a", "type": "liked"}, 400, "type"),
        ({"installation_id": "phone-a"}, 400, "type"),
        ({"installation_id": "phone-a", "type": "opened", "at": future}, 400, "at"),
        ({"installation_id": "phone-a", "type": "opened", "extra": 1}, 400, "extra"),
        ({"installation_id": "phone-a", "type": "opened", "send_id": "snd_nope"}, 404, "send_id"),
        (
            {"installation_id": "phone-a", "type": "opened", "delivery_id": 999999},
            404,
            "delivery_id",
        ),
        ({"installation_id": "x" * 300, "type": "opened"}, 400, "installation_id"),
    ]
    for body, status, field in cases:
        response = await post_event(env, key, body)
        assert response.status_code == status, (body, response.text)
        assert field in (error_of(response).get("field") or ""), response.text


async def test_events_beyond_the_rate_are_refused(
    env: DeliveryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen clock: no token ever comes back, so the limit shows without any timing.
    monkeypatch.setattr(events_api, "per_device", TokenBuckets(1.0, 2, clock=lambda: 0.0))
    await env.ios("phone-a")
    await env.ios("phone-b")
    key = await public_key(env, env.app_id)
    body = {"installation_id": "phone-a", "type": "received"}
    assert [(await post_event(env, key, body)).status_code for _ in range(2)] == [202, 202]
    limited = await post_event(env, key, body)
    assert limited.status_code == 429 and error_of(limited)["code"] == "RATE_LIMITED"
    other = await post_event(env, key, {"installation_id": "phone-b", "type": "received"})
    assert other.status_code == 202
