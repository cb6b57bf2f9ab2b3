"""Sends through the native API: validation, idempotency, targeting, outcomes without providers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Project, error_of, make_project
from tests.keys_for_tests import APNS_TOKEN


async def wait_done(
    client: httpx.AsyncClient, project: Project, send_id: str, seconds: float = 60
) -> dict[str, Any]:
    """Poll a send until it is done (or fail after timeout seconds)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        body: dict[str, Any] = (
            await client.get(f"/v1/sends/{send_id}", headers=project.headers)
        ).json()
        if body["status"] in ("done", "cancelled"):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.05)


async def _app_with_devices(client: httpx.AsyncClient, project: Project) -> str:
    app_id = f"{project.id}-app"
    await client.post("/v1/apps", json={"id": app_id, "name": "A"}, headers=project.headers)
    for index in range(3):
        body = {"platform": "ios", "token": f"{index:02d}" * 32, "external_id": "ann"}
        await client.put(
            f"/v1/apps/{app_id}/installations/d{index}", json=body, headers=project.headers
        )
    return app_id


async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, project: Project
) -> None:
    cases: list[tuple[dict[str, Any], int, str, str | None]] = [
        ({"content": {"body": "x"}}, 400, "MISSING_PARAMETER", "recipients"),
        ({"recipients": {}, "content": {"body": "x"}}, 400, "MISSING_PARAMETER", "recipients"),
        (
            {"recipients": {"emails": ["a@b.co", "nope"]}, "content": {"body": "x"}},
            400,
            "MALFORMED_PARAMETER",
            "recipients.emails[1]",
        ),
        (
            {"recipients": {"tokens": [f"t{i}" for i in range(10_001)]}, "content": {"body": "x"}},
            400,
            "MALFORMED_PARAMETER",
            "recipients.tokens",
        ),
        (
            {
                "recipients": {
                    "tokens": [f"t{i}" for i in range(5_000)],
                    "external_ids": [f"e{i}" for i in range(5_001)],
                },
                "content": {"body": "x"},
            },
            400,
            "MALFORMED_PARAMETER",
            "recipients",
        ),
        (
            {"recipients": {"tokens": ["t"]}, "content": {"body": "{{ oops"}},
            400,
            "MALFORMED_PARAMETER",
            "content.body",
        ),
        ({"recipients": {"tokens": ["t"]}}, 400, "MISSING_PARAMETER", "content"),
        (
            {"recipients": {"tokens": ["t"]}, "content": {"body": "x"}, "options": {"ttl": 0}},
            400,
            "MALFORMED_PARAMETER",
            "options.ttl",
        ),
        (
            {
                "recipients": {"tokens": ["t"]},
                "content": {"body": "x"},
                "options": {"push_type": "background"},
            },
            400,
            "MALFORMED_PARAMETER",
            "content.body",
        ),
        (
            {
                "recipients": {"tokens": ["t"]},
                "contents": [{"body": "x", "language": "fr"}, {"body": "y", "language": "de"}],
            },
            400,
            "MISSING_PARAMETER",
            "contents",
        ),
        (
            {"recipients": {"tokens": ["t"]}, "content": {"body": "x" * 5000}},
            400,
            "PAYLOAD_TOO_LARGE",
            "content",
        ),
    ]
    for body, status, code, field in cases:
        response = await client.post("/v1/sends", json=body, headers=project.headers)
        assert response.status_code == status, (body, response.text)
        assert error_of(response)["code"] == code, (body, response.text)
        if field is not None:
            assert error_of(response)["field"] == field, (body, response.text)


async def test_unknown_and_invalidated_recipients_get_outcomes(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await _app_with_devices(client, project)
    body = {
        "recipients": {
            "tokens": ["ff" * 32],
            "external_ids": ["nobody"],
            "installation_ids": ["d0"],
        },
        "content": {"title": "Hi", "body": "there"},
    }
    created = await client.post("/v1/sends", json=body, headers=project.headers)
    assert created.status_code == 201, created.text
    assert created.json()["recipients"] == 3
    done = await wait_done(client, project, created.json()["id"])
    counts = done["counts"]
    # d0's app has no APNs credentials: an error outcome, never a silent success.
    assert (
        counts["not_found"] == 2
        and counts["errors"] == 1
        and counts["pending"] == 0
        and counts["targeted"] == 1
    )
    trail = (
        await client.get(f"/v1/sends/{done['id']}/deliveries", headers=project.headers)
    ).json()["data"]
    by_kind = {d["recipient"]["kind"]: d for d in trail}
    assert by_kind["installation_id"]["provider_reason"] == "MissingCredentials"
    assert (
        by_kind["installation_id"]["app_id"] == app_id
        and by_kind["installation_id"]["token"] == "00" * 32
    )
    assert by_kind["token"]["outcome"] == "not_found"


async def test_idempotency_key_returns_the_first_send(
    client: httpx.AsyncClient, project: Project
) -> None:
    await _app_with_devices(client, project)
    body = {"recipients": {"external_ids": ["ann"]}, "content": {"body": "once"}}
    headers = project.headers | {"Idempotency-Key": "order-1"}
    responses = await asyncio.gather(
        *(client.post("/v1/sends", json=body, headers=headers) for _ in range(5))
    )
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1, [r.text for r in responses]
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    done = await wait_done(client, project, ids.pop())
    assert done["counts"]["targeted"] == 3
    conflict = await client.post(
        "/v1/sends", json={**body, "content": {"body": "other"}}, headers=headers
    )
    assert conflict.status_code == 409 and error_of(conflict)["field"] == "Idempotency-Key"
    in_body = await client.post(
        "/v1/sends", json={**body, "idempotency_key": "order-1"}, headers=project.headers
    )
    assert in_body.status_code == 200 and in_body.json()["id"] == done["id"]


async def test_concurrent_broadcasts_with_one_key_create_one_send(
    client: httpx.AsyncClient, project: Project
) -> None:
    await _app_with_devices(client, project)
    body = {"audience": {"all": True}, "content": {"body": "once"}}
    headers = project.headers | {"Idempotency-Key": "weekly-1"}
    responses = await asyncio.gather(
        *(client.post("/v1/sends", json=body, headers=headers) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201], [
        r.text for r in responses
    ]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    listed = (await client.get("/v1/sends", headers=project.headers)).json()
    assert [send["id"] for send in listed["data"]] == list(ids)


async def test_contact_reaches_its_ten_most_recent_devices_unless_all(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = f"{project.id}-many"
    await client.post("/v1/apps", json={"id": app_id, "name": "A"}, headers=project.headers)
    for index in range(12):
        body = {"platform": "android", "token": f"tok-{index}", "external_id": "bob"}
        await client.put(
            f"/v1/apps/{app_id}/installations/m{index}", json=body, headers=project.headers
        )
    recent = await client.post(
        "/v1/sends",
        json={"recipients": {"external_ids": ["bob"]}, "content": {"body": "x"}},
        headers=project.headers,
    )
    every = await client.post(
        "/v1/sends",
        json={
            "recipients": {"external_ids": ["bob"], "all_devices": True},
            "content": {"body": "x"},
        },
        headers=project.headers,
    )
    recent_done = await wait_done(client, project, recent.json()["id"])
    every_done = await wait_done(client, project, every.json()["id"])
    assert recent_done["counts"]["targeted"] == 10 and every_done["counts"]["targeted"] == 12
    trail = (
        await client.get(f"/v1/sends/{recent_done['id']}/deliveries", headers=project.headers)
    ).json()["data"]
    assert {d["installation_id"] for d in trail} == {f"m{i}" for i in range(2, 12)}


async def test_send_scope_and_foreign_sends(client: httpx.AsyncClient, project: Project) -> None:
    read_key = (
        await client.post("/v1/keys", json={"scopes": ["read"]}, headers=project.headers)
    ).json()["key"]
    response = await client.post(
        "/v1/sends",
        json={"recipients": {"tokens": [APNS_TOKEN]}, "content": {"body": "x"}},
        headers={"Authorization": f"Bearer {read_key}"},
    )
    assert response.status_code == 403
    assert (await client.get("/v1/sends/snd_nope", headers=project.headers)).status_code == 404


async def test_sends_are_listed_newest_first_page_by_page(
    client: httpx.AsyncClient, project: Project
) -> None:
    created = []
    for index in range(5):
        body = {"recipients": {"external_ids": [f"nobody-{index}"]}, "content": {"body": "x"}}
        response = await client.post("/v1/sends", json=body, headers=project.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/sends", params=params, headers=project.headers)).json()
        seen += [send["id"] for send in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))
    other = await make_project(client)
    assert (await client.get("/v1/sends", headers=other.headers)).json()["data"] == []
    bad = await client.get("/v1/sends", params={"cursor": "bm9wZQ"}, headers=project.headers)
    assert bad.status_code == 400 and error_of(bad)["field"] == "cursor"
    for send_id in created:
        await wait_done(client, project, send_id)
    done = await client.get("/v1/sends", params={"status": "done"}, headers=project.headers)
    assert len(done.json()["data"]) == 5
    accepted = await client.get("/v1/sends", params={"status": "accepted"}, headers=project.headers)
    assert accepted.json()["data"] == []
