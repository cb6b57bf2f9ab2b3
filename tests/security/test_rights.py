"""Rights: no key grants more than it holds, app-limited keys stay inside their apps, and
another project's objects are answered exactly like missing ones."""

from __future__ import annotations

from typing import Any

import httpx

from clarion.api.auth import Principal
from tests.conftest import Project, error_of, make_project
from tests.delivery_env import DeliveryEnv


async def _app(client: httpx.AsyncClient, project: Project, suffix: str) -> str:
    app_id = f"{project.id}-{suffix}"
    response = await client.post(
        "/v1/apps", json={"id": app_id, "name": suffix}, headers=project.headers
    )
    assert response.status_code == 201, response.text
    return app_id


async def _key(client: httpx.AsyncClient, project: Project, body: dict[str, Any]) -> str:
    response = await client.post("/v1/keys", json=body, headers=project.headers)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def test_app_limited_admin_key_cannot_manage_keys_or_apps(
    client: httpx.AsyncClient, project: Project
) -> None:
    mine = await _app(client, project, "a1")
    await _app(client, project, "a2")
    limited = {
        "Authorization": "Bearer "
        + await _key(client, project, {"scopes": ["admin"], "app_ids": [mine]})
    }
    project_keys = (await client.get("/v1/keys", headers=project.headers)).json()["data"]
    refused = [
        await client.post("/v1/keys", json={"scopes": ["admin"]}, headers=limited),
        await client.post(
            "/v1/keys", json={"scopes": ["read"], "app_ids": [mine]}, headers=limited
        ),
        await client.get("/v1/keys", headers=limited),
        await client.delete(f"/v1/keys/{project_keys[0]['id']}", headers=limited),
        await client.post(
            "/v1/apps", json={"id": f"{project.id}-a3", "name": "x"}, headers=limited
        ),
        await client.delete(f"/v1/apps/{mine}", headers=limited),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert error_of(response)["code"] == "FORBIDDEN"
    # Nothing was created, revoked or deleted, and the key still works inside its app.
    assert (await client.get("/v1/keys", headers=project.headers)).json()["data"] == project_keys
    assert (await client.get("/v1/apps", headers=project.headers)).json()["data"][-1]["id"] != (
        f"{project.id}-a3"
    )
    assert (await client.get(f"/v1/apps/{mine}", headers=limited)).status_code == 200
    assert (await client.get("/v1/apps", headers=project.headers)).status_code == 200


def test_a_key_grants_nothing_beyond_its_own_scopes_and_apps() -> None:
    sender = Principal("p", frozenset({"send"}), frozenset({"a1", "a2"}))
    assert sender.may_grant(["send"], ["a1"]) is None
    assert sender.may_grant(["send", "admin"], ["a1"]) == "scopes[1]"
    assert sender.may_grant(["registry"], ["a1"]) == "scopes[0]"
    assert sender.may_grant(["send"], ["a1", "a3"]) == "app_ids[1]"
    # No app list means every app, which is more than two.
    assert sender.may_grant(["send"], None) == "app_ids"
    assert sender.may_grant(["send"], []) == "app_ids"
    admin = Principal("p", frozenset({"admin"}), None)
    assert admin.may_grant(["admin", "read"], None) is None


async def test_a_key_limited_to_no_app_is_refused_not_widened(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.post(
        "/v1/keys", json={"scopes": ["read"], "app_ids": []}, headers=project.headers
    )
    assert response.status_code == 400
    assert error_of(response)["field"] == "app_ids"
    keys = (await client.get("/v1/keys", headers=project.headers)).json()["data"]
    assert len(keys) == 1


async def test_a_key_naming_another_projects_app_does_not_reach_it(
    client: httpx.AsyncClient, project: Project
) -> None:
    other = await make_project(client)
    foreign = await _app(client, other, "theirs")
    answers = [
        await client.post(
            "/v1/keys", json={"scopes": ["read"], "app_ids": [app_id]}, headers=project.headers
        )
        for app_id in (foreign, "no-such-app")
    ]
    # Naming an app id tells nothing: both are accepted alike, and neither opens anything.
    assert [a.status_code for a in answers] == [201, 201]
    limited = {"Authorization": f"Bearer {answers[0].json()['key']}"}
    assert (await client.get(f"/v1/apps/{foreign}", headers=limited)).status_code == 404
    assert (
        await client.get(f"/v1/apps/{foreign}/installations", headers=limited)
    ).status_code == 404


async def test_another_projects_app_is_answered_like_a_missing_one(
    client: httpx.AsyncClient, project: Project
) -> None:
    other = await make_project(client)
    foreign = await _app(client, other, "theirs")
    body = {"platform": "android", "token": "t1"}
    for method, path, json in [
        ("GET", "/v1/apps/{}", None),
        ("DELETE", "/v1/apps/{}", None),
        ("GET", "/v1/apps/{}/installations", None),
        ("PUT", "/v1/apps/{}/installations/i1", body),
        ("GET", "/v1/apps/{}/providers/apns", None),
        ("DELETE", "/v1/apps/{}/providers/fcm", None),
    ]:
        answers = [
            await client.request(method, path.format(app_id), json=json, headers=project.headers)
            for app_id in (foreign, f"{foreign}-missing")
        ]
        assert answers[0].status_code == answers[1].status_code == 404, (method, path)
        # The message and field are the same too: nothing tells the two apart.
        assert answers[0].json() == answers[1].json(), (method, path)
    assert (await client.get(f"/v1/apps/{foreign}", headers=other.headers)).status_code == 200


async def test_events_answer_another_projects_delivery_like_a_missing_one(
    env: DeliveryEnv,
) -> None:
    await env.ios("phone-a")
    send_id = await env.send(
        {"recipients": {"installation_ids": ["phone-a"]}, "content": {"body": "Hi"}}
    )
    await env.wait_done(send_id)
    delivery_id = (await env.deliveries(send_id))[0]["id"]

    other = await make_project(env.http)
    their_app = await _app(env.http, other, "theirs")
    response = await env.http.put(
        f"/v1/apps/{their_app}/installations/their-phone",
        json={"platform": "android", "token": "their-token"},
        headers=other.headers,
    )
    assert response.status_code == 201, response.text
    public_key = (await env.http.get(f"/v1/apps/{their_app}", headers=other.headers)).json()[
        "public_key"
    ]
    answers = [
        await env.http.post(
            "/v1/events",
            json={"installation_id": "their-phone", "type": "opened", "delivery_id": wanted},
            headers={"Clarion-App-Key": public_key},
        )
        for wanted in (delivery_id, delivery_id + 1_000_000)
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert error_of(answers[0])["field"] == "delivery_id"
    assert answers[0].json() == answers[1].json()
    # Their send id is unknown here as well.
    response = await env.http.post(
        "/v1/events",
        json={"installation_id": "their-phone", "type": "opened", "send_id": send_id},
        headers={"Clarion-App-Key": public_key},
    )
    assert response.status_code == 404
    foreign_send = await env.http.get(f"/v1/sends/{send_id}/deliveries", headers=other.headers)
    missing_send = await env.http.get("/v1/sends/snd_missing/deliveries", headers=other.headers)
    assert foreign_send.status_code == missing_send.status_code == 404
    assert foreign_send.json() == missing_send.json()
