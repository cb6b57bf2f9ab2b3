"""Templates API: CRUD, validation with fields, scopes, and template use at send acceptance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from clarion.sending.templates import merge_options
from tests.conftest import Project, error_of, make_project

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "contents": [
        {"title": "Hi {{ params.name }}", "body": "Welcome", "deeplink": "app://home"},
        {"language": "fr", "title": "Salut {{ params.name }}", "body": "Bienvenue"},
    ],
    "options": {"priority": "high", "ttl": 600},
}


async def create(http: httpx.AsyncClient, project: Project, **changes: Any) -> dict[str, Any]:
    """Create a template (WELCOME with changes) and return it."""
    response = await http.post("/v1/templates", json=WELCOME | changes, headers=project.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_get_replace_patch_delete(client: httpx.AsyncClient, project: Project) -> None:
    created = await create(client, project)
    assert created["id"].startswith("tpl_") and created["status"] == "active"
    assert created["contents"][1]["language"] == "fr"
    assert created["options"] == {"priority": "high", "ttl": 600}
    url = f"/v1/templates/{created['id']}"
    fetched = (await client.get(url, headers=project.headers)).json()
    assert fetched == created

    replaced = await client.put(
        url,
        json={"name": "Renamed", "contents": [{"body": "only"}], "status": "draft"},
        headers=project.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["contents"] == [{"body": "only"}]
    assert replaced.json()["options"] == {} and replaced.json()["status"] == "draft"

    start = datetime(2030, 1, 1, tzinfo=UTC)
    patched = await client.patch(
        url, json={"status": "inactive", "start_at": start.isoformat()}, headers=project.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed" and patched.json()["status"] == "inactive"
    assert datetime.fromisoformat(patched.json()["start_at"]) == start

    assert (await client.delete(url, headers=project.headers)).status_code == 204
    gone = await client.get(url, headers=project.headers)
    assert gone.status_code == 404 and error_of(gone)["field"] == "template_id"
    assert (await client.patch(url, json={"name": "x"}, headers=project.headers)).status_code == 404
    listed = (await client.get("/v1/templates", headers=project.headers)).json()
    assert listed["data"] == []
    deleted = (
        await client.get("/v1/templates", params={"status": "deleted"}, headers=project.headers)
    ).json()
    assert [t["id"] for t in deleted["data"]] == [created["id"]]
    assert deleted["data"][0]["status"] == "deleted"


async def test_list_pages_with_a_cursor_and_stays_in_its_project(
    client: httpx.AsyncClient, project: Project
) -> None:
    ids = [(await create(client, project, name=f"t{i}"))["id"] for i in range(3)]
    other = await make_project(client)
    await create(client, other, name="elsewhere")
    first = (await client.get("/v1/templates?limit=2", headers=project.headers)).json()
    assert [t["id"] for t in first["data"]] == ids[:2] and first["next_cursor"]
    second = (
        await client.get(
            "/v1/templates",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=project.headers,
        )
    ).json()
    assert [t["id"] for t in second["data"]] == ids[2:] and second["next_cursor"] is None
    foreign = await client.get(f"/v1/templates/{ids[0]}", headers=other.headers)
    assert foreign.status_code == 404


async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, project: Project
) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"contents": [{"language": "en", "body": "a"}, {"language": "fr", "body": "b"}]},
            "MISSING_PARAMETER",
            "contents",
        ),
        (
            {"contents": [{"body": "a"}, {"body": "b"}]},
            "MALFORMED_PARAMETER",
            "contents[1].language",
        ),
        (
            {"contents": [{"body": "a", "data": {"aps": 1}}]},
            "MALFORMED_PARAMETER",
            "contents[0].data.aps",
        ),
        (
            {"contents": [{"title": "t"}], "options": {"ttl": -1}},
            "MALFORMED_PARAMETER",
            "options.ttl",
        ),
        ({"contents": [{"body": "x" * 5000}]}, "PAYLOAD_TOO_LARGE", "contents[0]"),
        ({"status": "deleted"}, "MALFORMED_PARAMETER", "status"),
        ({"name": ""}, "MALFORMED_PARAMETER", "name"),
        (
            {"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"},
            "MALFORMED_PARAMETER",
            "end_at",
        ),
        ({"start_at": "2030-01-02T00:00:00"}, "MALFORMED_PARAMETER", "start_at"),
    ]
    for changes, code, field in cases:
        response = await client.post(
            "/v1/templates", json=WELCOME | changes, headers=project.headers
        )
        assert response.status_code == 400, (changes, response.text)
        assert (error_of(response)["code"], error_of(response)["field"]) == (code, field), changes
    missing = await client.post("/v1/templates", json={"name": "x"}, headers=project.headers)
    assert error_of(missing)["code"] == "MISSING_PARAMETER"
    assert error_of(missing)["field"] == "contents"


async def test_liquid_syntax_error_is_refused_with_its_position(
    client: httpx.AsyncClient, project: Project
) -> None:
    contents = [{"body": "ok"}, {"language": "de", "title": "Hallo\n{{ params.name | }}"}]
    response = await client.post(
        "/v1/templates", json=WELCOME | {"contents": contents}, headers=project.headers
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["field"] == "contents[1].title"
    assert "line 2, column 1" in error["message"]
    template = await create(client, project)
    patched = await client.patch(
        f"/v1/templates/{template['id']}",
        json={"contents": [{"body": "{% if x %}open"}]},
        headers=project.headers,
    )
    assert patched.status_code == 400 and error_of(patched)["field"] == "contents[0].body"


async def test_read_keys_read_and_send_keys_write(
    client: httpx.AsyncClient, project: Project
) -> None:
    template = await create(client, project)
    reader = await client.post(
        "/v1/keys", json={"scopes": ["read"]}, headers={"Authorization": f"Bearer {project.key}"}
    )
    read_headers = {"Authorization": f"Bearer {reader.json()['key']}"}
    assert (
        await client.get(f"/v1/templates/{template['id']}", headers=read_headers)
    ).status_code == 200
    refused = await client.post("/v1/templates", json=WELCOME, headers=read_headers)
    assert refused.status_code == 403
    sender = await client.post(
        "/v1/keys", json={"scopes": ["send"]}, headers={"Authorization": f"Bearer {project.key}"}
    )
    send_headers = {"Authorization": f"Bearer {sender.json()['key']}"}
    assert (
        await client.post("/v1/templates", json=WELCOME, headers=send_headers)
    ).status_code == 201


async def test_sends_refuse_unusable_templates(client: httpx.AsyncClient, project: Project) -> None:
    recipients = {"tokens": ["a" * 64]}

    async def send(**body: Any) -> httpx.Response:
        return await client.post(
            "/v1/sends", json={"recipients": recipients, **body}, headers=project.headers
        )

    missing = await send(template_id="tpl_nope")
    assert missing.status_code == 404 and error_of(missing)["field"] == "template_id"
    draft = await create(client, project, status="draft")
    refused = await send(template_id=draft["id"])
    assert refused.status_code == 422 and error_of(refused)["code"] == "TEMPLATE_INACTIVE"
    assert error_of(refused)["field"] == "template_id"
    now = datetime.now(UTC)
    future = await create(client, project, start_at=(now + timedelta(days=1)).isoformat())
    expired = await create(client, project, end_at=(now - timedelta(seconds=1)).isoformat())
    for template in (future, expired):
        out = await send(template_id=template["id"])
        assert out.status_code == 422 and error_of(out)["code"] == "TEMPLATE_OUT_OF_WINDOW"
    deleted = await create(client, project)
    await client.delete(f"/v1/templates/{deleted['id']}", headers=project.headers)
    assert (await send(template_id=deleted["id"])).status_code == 404
    active = await create(
        client,
        project,
        start_at=(now - timedelta(days=1)).isoformat(),
        end_at=(now + timedelta(days=1)).isoformat(),
    )
    both = await send(template_id=active["id"], content={"body": "inline"})
    assert both.status_code == 400 and error_of(both)["field"] == "content"
    accepted = await send(template_id=active["id"], params={"name": "Ann"})
    assert accepted.status_code == 201, accepted.text


def test_explicit_options_override_template_defaults() -> None:
    defaults = {"priority": "high", "ttl": 600, "webpush": {"urgency": "low", "topic": "news"}}
    merged = merge_options(defaults, {"ttl": 60, "webpush": {"topic": "alerts"}})
    assert merged == {
        "priority": "high",
        "ttl": 60,
        "webpush": {"urgency": "low", "topic": "alerts"},
    }
    assert merge_options(defaults, None) == defaults
