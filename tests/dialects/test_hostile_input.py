"""Every dialect refuses what cannot be stored or delivered, in its own error body, naming it.

As for the native API: each route's valid body is accepted first, then every string in
it is replaced by a NUL character and by a lone surrogate, and each variant must answer
400 in the dialect's error shape with the path of that string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import make_project
from tests.dialects.test_sfmc_e2e import example
from tests.hostile import JSON, encoded, nested, poisoned_bodies


@dataclass
class Dialects:
    """A project with an app, a template and an sfmc definition."""

    http: httpx.AsyncClient
    key: str
    app_id: str
    template_id: str
    message_id: str


async def make_dialects(http: httpx.AsyncClient) -> Dialects:
    """Create what the dialect routes refer to."""
    project = await make_project(http)
    app_id = f"{project.id}-app"
    created = await http.post(
        "/v1/apps", json={"id": app_id, "name": "App"}, headers=project.headers
    )
    assert created.status_code == 201, created.text
    template = await http.post(
        "/v1/templates",
        json={"name": "T", "contents": [{"title": "Hi", "body": "B"}]},
        headers=project.headers,
    )
    assert template.status_code == 201, template.text
    definition = await http.post("/push/v1/message", json=example(app_id), headers=project.headers)
    assert definition.status_code == 201, definition.text
    return Dialects(http, project.key, app_id, template.json()["id"], definition.json()["id"])


def batch_field(response: httpx.Response) -> str:
    """The field of a batch MALFORMED_PARAMETER error."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 31 and body["name"] == "MALFORMED_PARAMETER", body
    field: str = body["field"]
    return field


def dengage_field(response: httpx.Response) -> str:
    """The field of a dengage ValidationError."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False and body["errorCode"] == "ValidationError", body
    field: str = body["field"]
    return field


def pushv2_field(response: httpx.Response) -> str:
    """The FieldName of a pushv2 ValidationException."""
    assert response.status_code == 400, response.text
    status = response.json()["ResponseStatus"]
    assert status["ErrorCode"] == "ValidationException", status
    field: str = status["Errors"][0]["FieldName"]
    return field


def sfmc_field(response: httpx.Response) -> str:
    """The field an sfmc error line starts with."""
    assert response.status_code == 400, response.text
    line: str = response.json()["errors"][0]
    return line.split(" ", 1)[0]


@dataclass(frozen=True)
class Route:
    """A dialect write route: where, with which credentials, a valid body, how errors read."""

    path: str
    body: Callable[[Dialects], dict[str, Any]]
    field_of: Callable[[httpx.Response], str]
    auth: str = "bearer"
    method: str = "POST"


BATCH_BODY = {
    "group_id": "welcome",
    "recipients": {"custom_ids": ["ann"], "install_ids": ["dev-1"]},
    "message": {"title": "Hi", "body": "Welcome"},
    "custom_payload": '{"k": "v"}',
    "labels": ["news"],
    "gcm_collapse_key": {"key": "ck"},
    "deeplink": "https://example.com/open",
}
SFMC_CONTACT = {
    "subscriberKeys": ["ann"],
    "deviceTokens": ["tok-1"],
    "override": True,
    "messageText": "Hello",
    "title": "T",
    "keys": [{"key": "k", "value": "v"}],
}

ROUTES: dict[str, Route] = {
    "batch": Route(
        "/1.1/{app}/transactional/send", lambda d: BATCH_BODY, batch_field, auth="batch"
    ),
    "dengage_transactional": Route(
        "/api/transactional/push",
        lambda d: {
            "templateId": d.template_id,
            "contactKey": "ann",
            "current": {"name": "Ann", "cart": {"items": ["x"]}},
            "customParameters": [{"key": "k", "value": "v"}],
            "language": "en",
            "tags": ["vip"],
            "traceId": "trace-1",
        },
        dengage_field,
    ),
    "dengage_instant": Route(
        "/api/push/instant",
        lambda d: {
            "applicationIds": [d.app_id],
            "content": {
                "title": "Sale",
                "message": "Today only",
                "sound": "default",
                "androidChannelId": "news",
                "customData": {"k": "v"},
            },
        },
        dengage_field,
    ),
    "pushv2": Route(
        "/api/v2/push?format=json",
        lambda d: {
            "UserExternalId": "ann",
            "Title": "T",
            "Body": "B",
            "CompanyId": 7,
            "IntegrationKey": d.key,
        },
        pushv2_field,
        auth="none",
    ),
    "sfmc_definition": Route("/push/v1/message", lambda d: example(d.app_id), sfmc_field),
    "sfmc_contact": Route(
        "/push/v1/messageContact/{message}/send", lambda d: SFMC_CONTACT, sfmc_field
    ),
    "sfmc_batch": Route(
        "/push/v1/messageBatch/{message}/send",
        lambda d: {"subscriberKeys": ["ann"], "message": {"alert": "Hi", "title": "T"}},
        sfmc_field,
    ),
}


async def call(dialects: Dialects, route: Route, body: Any) -> httpx.Response:
    """One request of a route with `body`, as JSON escaping non-ASCII."""
    headers = dict(JSON)
    if route.auth == "bearer":
        headers["Authorization"] = f"Bearer {dialects.key}"
    elif route.auth == "batch":
        headers["X-Authorization"] = dialects.key
    path = route.path.replace("{app}", dialects.app_id).replace("{message}", dialects.message_id)
    return await dialects.http.request(route.method, path, content=encoded(body), headers=headers)


@pytest.mark.parametrize("name", list(ROUTES))
async def test_hostile_text_in_any_field_is_refused_in_the_dialect_shape(
    client: httpx.AsyncClient, name: str
) -> None:
    dialects = await make_dialects(client)
    route = ROUTES[name]
    body = route.body(dialects)
    accepted = await call(dialects, route, body)
    assert accepted.status_code < 300, accepted.text
    for field, hostile in poisoned_bodies(body):
        response = await call(dialects, route, hostile)
        assert route.field_of(response) == field, (field, response.text)


@pytest.mark.parametrize("name", list(ROUTES))
async def test_deep_documents_and_non_finite_numbers_are_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    dialects = await make_dialects(client)
    route = ROUTES[name]
    body = route.body(dialects)
    # About a thousand levels once raised RecursionError, answered 500.
    for depth in (40, 1000, 100_000):
        raw = b'{"deep": ' + b"[" * depth + b"]" * depth + b"}"
        response = await dialects.http.post(
            route.path.replace("{app}", dialects.app_id).replace("{message}", dialects.message_id),
            content=raw,
            headers=JSON
            | {"Authorization": f"Bearer {dialects.key}", "X-Authorization": dialects.key},
        )
        assert response.status_code == 400, (depth, response.text)
    response = await call(dialects, route, {**body, "deep": nested(33)})
    assert route.field_of(response).startswith("deep.a.a"), response.text
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"1" * 30):
        raw = encoded(body)[:-1] + b', "number": ' + literal + b"}"
        response = await dialects.http.request(
            route.method,
            route.path.replace("{app}", dialects.app_id).replace("{message}", dialects.message_id),
            content=raw,
            headers=JSON
            | {"Authorization": f"Bearer {dialects.key}", "X-Authorization": dialects.key},
        )
        assert route.field_of(response) == "number", (literal, response.text)


async def test_booleans_as_integers_and_unsafe_header_values(client: httpx.AsyncClient) -> None:
    dialects = await make_dialects(client)
    batch = ROUTES["batch"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"time_to_live": True}, "time_to_live"),
        ({"gcm_collapse_key": {"key": "a\r\nb"}}, "gcm_collapse_key.key"),
        ({"gcm_collapse_key": {"key": "clé"}}, "gcm_collapse_key.key"),
    ]
    for changes, field in cases:
        response = await call(dialects, batch, {**BATCH_BODY, **changes})
        assert batch_field(response) == field, response.text
    instant = ROUTES["dengage_instant"]
    body = instant.body(dialects)
    body["content"]["badgeCount"] = True
    response = await call(dialects, instant, body)
    assert dengage_field(response) == "content.badgeCount", response.text
    definition = ROUTES["sfmc_definition"]
    for name in ("messagesPerPeriod", "pageId"):
        response = await call(dialects, definition, {**example(dialects.app_id), name: True})
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0].startswith(name), response.text
    response = await call(dialects, ROUTES["sfmc_contact"], {**SFMC_CONTACT, "badge": True})
    assert sfmc_field(response).startswith("badge"), response.text


async def test_pushv2_xml_cannot_smuggle_nul_characters(client: httpx.AsyncClient) -> None:
    dialects = await make_dialects(client)
    xml = (
        '<PushRequest xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        "<UserExternalId>ann</UserExternalId><Title>a&#0;b</Title><Body>B</Body>"
        f"<CompanyId>7</CompanyId><IntegrationKey>{dialects.key}</IntegrationKey></PushRequest>"
    )
    response = await client.post(
        "/api/v2/push?format=json", content=xml.encode(), headers={"content-type": "text/xml"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["ResponseStatus"]["ErrorCode"] == "SerializationException"
