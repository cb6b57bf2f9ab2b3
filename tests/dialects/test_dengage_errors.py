"""The dengage dialect's auth, validation and refusals, in its error body."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import admin_headers, make_project

PHONE = "+14155550123"


class Dengage:
    """A project with one app, a template, and keys, seen through the dengage routes."""

    def __init__(self, http: httpx.AsyncClient, key: str, app_id: str, template_id: str) -> None:
        self.http = http
        self.key = key
        self.app_id = app_id
        self.template_id = template_id

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        """POST JSON (or raw bytes) with a Bearer key."""
        headers = {"Authorization": f"Bearer {key or self.key}"}
        if isinstance(body, bytes):
            return await self.http.post(path, content=body, headers=headers)
        return await self.http.post(path, json=body, headers=headers)


async def setup(http: httpx.AsyncClient) -> Dengage:
    project = await make_project(http)
    app_id = f"{project.id}-app"
    created = await http.post(
        "/v1/apps", json={"id": app_id, "name": "App"}, headers=project.headers
    )
    assert created.status_code == 201, created.text
    template = await http.post(
        "/v1/templates",
        json={"name": "Welcome", "contents": [{"title": "Hi", "body": "Welcome"}]},
        headers=project.headers,
    )
    assert template.status_code == 201, template.text
    return Dengage(http, project.key, app_id, template.json()["id"])


async def scoped_key(http: httpx.AsyncClient, dengage: Dengage, body: dict[str, Any]) -> str:
    project_id = dengage.app_id.removesuffix("-app")
    response = await http.post("/v1/keys", json=body, headers=admin_headers(project_id))
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["errorCode"] == code, body
    assert body["field"] == field, body
    message: str = body["message"]
    return message


async def test_authentication_and_permission(client: httpx.AsyncClient) -> None:
    dengage = await setup(client)
    body = {"templateId": dengage.template_id, "token": "fcm-x", "appId": dengage.app_id}
    for path in ("/api/transactional/push", "/api/push/instant"):
        missing = await client.post(path, json=body)
        error(missing, 401, "Unauthorized")
        error(await dengage.post(path, body, key="clk_nope.nope"), 401, "Unauthorized")
        reader = await scoped_key(client, dengage, {"scopes": ["read"]})
        message = error(await dengage.post(path, body, key=reader), 403, "Forbidden")
        assert "TransactionalPush.Manage" in message
    other_app = await scoped_key(client, dengage, {"scopes": ["send"], "app_ids": ["other"]})
    refused = await dengage.post("/api/transactional/push", body, key=other_app)
    error(refused, 403, "Forbidden", "appId")
    instant = {"content": {"message": "x"}, "applicationIds": [dengage.app_id]}
    refused = await dengage.post("/api/push/instant", instant, key=other_app)
    error(refused, 403, "Forbidden", "applicationIds[0]")


async def test_transactional_validation(client: httpx.AsyncClient) -> None:
    dengage = await setup(client)
    base = {"templateId": dengage.template_id}
    cases: list[tuple[Any, int, str, str | None]] = [
        (b"{not json", 400, "ValidationError", None),
        ([1, 2], 400, "ValidationError", None),
        ({"contactKey": "ann"}, 400, "ValidationError", "templateId"),
        (base, 400, "ValidationError", "contactKey"),
        (
            {**base, "contactKey": "ann", "token": "fcm-x", "appId": "a"},
            400,
            "ValidationError",
            "token",
        ),
        (
            {**base, "token": "fcm-x", "appId": dengage.app_id, "sendToAll": True},
            400,
            "ValidationError",
            "sendToAll",
        ),
        ({**base, "token": "fcm-x"}, 400, "ValidationError", "appId"),
        ({**base, "contactKey": "ann", "unknown": 1}, 400, "ValidationError", "unknown"),
        (
            {**base, "contactKey": "ann", "fallbackChannel": {"channel": "SMS"}},
            400,
            "ValidationError",
            "fallbackChannel.templateId",
        ),
        (
            {**base, "contactKey": "ann", "fallbackChannel": {"channel": "EMAIL", "message": "x"}},
            400,
            "ValidationError",
            "fallbackChannel.channel",
        ),
        (
            {
                **base,
                "contactKey": "ann",
                "fallbackChannel": {"channel": "SMS", "message": "x", "phoneNumber": "12"},
            },
            400,
            "ValidationError",
            "fallbackChannel.phoneNumber",
        ),
        (
            {**base, "contactKey": "ann", "language": "not a tag!"},
            400,
            "ValidationError",
            "language",
        ),
        (
            {**base, "contactKey": "ann", "customParameters": [{"key": "a"}, {"key": "a"}]},
            400,
            "ValidationError",
            "customParameters[1].key",
        ),
        ({**base, "contactKey": "ann", "tags": [""]}, 400, "ValidationError", "tags[0]"),
        (
            {**base, "contactKey": "ann", "inboxParams": {"expireDate": "soon"}},
            400,
            "ValidationError",
            "inboxParams.expireDate",
        ),
        (
            {**base, "contactKey": "ann", "inboxParams": {"expireDate": "2020-01-01T00:00:00Z"}},
            400,
            "ValidationError",
            "inboxParams.expireDate",
        ),
        (
            {**base, "contactKey": "ann", "fallbackChannel": {"channel": "SMS", "message": " "}},
            400,
            "ValidationError",
            "fallbackChannel",
        ),
        (
            {
                **base,
                "contactKey": "ann",
                "fallbackChannel": {"channel": "SMS", "message": "{{ unclosed"},
            },
            400,
            "ValidationError",
            "fallbackChannel",
        ),
        (
            {**base, "contactKey": "ann", "fallbackChannel": {"channel": "SMS", "templateId": "x"}},
            404,
            "TemplateNotFound",
            "fallbackChannel.templateId",
        ),
        ({"templateId": "tpl_missing", "contactKey": "ann"}, 404, "TemplateNotFound", "templateId"),
        ({**base, "token": "fcm-x", "appId": "no-such-app"}, 404, "NotFound", "appId"),
    ]
    for body, status, code, field in cases:
        response = await dengage.post("/api/transactional/push", body)
        error(response, status, code, field)


async def test_transactional_refuses_inactive_templates_and_reused_trace_ids(
    client: httpx.AsyncClient,
) -> None:
    dengage = await setup(client)
    project_headers = {"Authorization": f"Bearer {dengage.key}"}
    draft = await client.post(
        "/v1/templates",
        json={"name": "Draft", "status": "draft", "contents": [{"body": "x"}]},
        headers=project_headers,
    )
    body = {"templateId": draft.json()["id"], "contactKey": "ann"}
    error(
        await dengage.post("/api/transactional/push", body), 400, "TemplateNotActive", "templateId"
    )
    first = {"templateId": dengage.template_id, "contactKey": "ann", "traceId": "t-1"}
    accepted = await dengage.post("/api/transactional/push", first)
    assert accepted.status_code == 200 and accepted.json()["success"] is True, accepted.text
    again = await dengage.post("/api/transactional/push", first)
    assert again.json()["messageId"] == accepted.json()["messageId"]
    changed = await dengage.post("/api/transactional/push", {**first, "contactKey": "bob"})
    error(changed, 409, "Conflict", "traceId")


async def test_instant_push_validation_and_unknown_audiences(
    client: httpx.AsyncClient,
) -> None:
    dengage = await setup(client)
    content = {"title": "Sale", "message": "Today only"}
    segment = str(uuid.uuid4())
    cases: list[tuple[Any, int, str, str | None]] = [
        (b"[", 400, "ValidationError", None),
        ({"segmentId": segment}, 400, "ValidationError", "content"),
        (
            {"content": content, "multiLangContent": {"defaultLanguage": "en", "contents": {}}},
            400,
            "ValidationError",
            "multiLangContent",
        ),
        (
            {"content": {"templateId": dengage.template_id, "title": "x"}},
            400,
            "ValidationError",
            "content.templateId",
        ),
        (
            {"content": content, "segmentId": segment, "tableId": segment},
            400,
            "ValidationError",
            "tableId",
        ),
        ({"content": content, "trackingId": "not-a-uuid"}, 400, "ValidationError", "trackingId"),
        ({"content": content, "segmentId": "seg 1"}, 400, "ValidationError", "segmentId"),
        ({"content": content, "tableId": "x" * 41}, 400, "ValidationError", "tableId"),
        (
            {"content": {"title": "x", "mediaUrl": "ftp://x"}},
            400,
            "ValidationError",
            "content.mediaUrl",
        ),
        ({"content": {"sound": "ding"}}, 400, "ValidationError", "content.message"),
        (
            {"multiLangContent": {"defaultLanguage": "en", "contents": {"tr": content}}},
            400,
            "ValidationError",
            "multiLangContent.defaultLanguage",
        ),
        ({"content": {"templateId": "tpl_missing"}}, 404, "TemplateNotFound", "content.templateId"),
        ({"content": content, "applicationIds": ["nope"]}, 404, "NotFound", "applicationIds[0]"),
        (
            {"content": content, "scheduleDate": "2999-01-01T00:00:00"},
            400,
            "ValidationError",
            "scheduleDate",
        ),
        ({"content": content, "segmentId": segment}, 404, "NotFound", "segmentId"),
        (
            {"content": {"templateId": dengage.template_id}, "tableId": "lst_missing"},
            404,
            "NotFound",
            "tableId",
        ),
    ]
    for body, status, code, field in cases:
        error(await dengage.post("/api/push/instant", body), status, code, field)


async def test_unknown_routes_and_methods_answer_in_the_dialect_body(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": "Bearer whatever"}
    error(await client.get("/api/transactional/push", headers=headers), 405, "MethodNotAllowed")
    error(await client.post("/api/push/nothing", headers=headers), 404, "RouteNotFound")
    error(await client.delete("/api/transactional/x/y"), 404, "RouteNotFound")
