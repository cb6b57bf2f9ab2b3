"""Every write route of the native API refuses what cannot be stored or delivered: 400, field named.

Each route's valid body is accepted first; then every string in it is replaced in turn by
a NUL character and by a lone surrogate, and each variant must answer 400 naming the
path of that string (never 500, never an accepted request that fails later).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Project, admin_headers, error_of, make_project
from tests.hostile import JSON, encoded, nested, poisoned_bodies, with_key
from tests.keys_for_tests import p8_key, service_account


@dataclass
class World:
    """A project with an app, a contact with a device, a template and a list."""

    http: httpx.AsyncClient
    project: Project
    app_id: str
    public_key: str
    template_id: str
    list_id: str
    segment_id: str

    def headers(self, route: str) -> dict[str, str]:
        """The credentials a route takes: the app's public key, the admin key or the project's."""
        if route == "events":
            return {"Clarion-App-Key": self.public_key}
        if route == "projects":
            return admin_headers()
        return self.project.headers


async def make_world(http: httpx.AsyncClient) -> World:
    """Create the objects the write routes refer to."""
    project = await make_project(http)
    app_id = f"{project.id}-app"
    app = await http.post("/v1/apps", json={"id": app_id, "name": "App"}, headers=project.headers)
    assert app.status_code == 201, app.text
    device = await http.put(
        f"/v1/apps/{app_id}/installations/dev-1",
        json={"platform": "android", "token": "tok-1", "external_id": "ann"},
        headers=project.headers,
    )
    assert device.status_code in (200, 201), device.text
    template = await http.post(
        "/v1/templates",
        json={"name": "T", "contents": [{"title": "Hi", "body": "B"}]},
        headers=project.headers,
    )
    assert template.status_code == 201, template.text
    listed = await http.post("/v1/lists", json={"name": "L"}, headers=project.headers)
    assert listed.status_code == 201, listed.text
    segment = await http.post(
        "/v1/segments", json={"name": "S", "filter": {"languages": ["en"]}}, headers=project.headers
    )
    assert segment.status_code == 201, segment.text
    return World(
        http,
        project,
        app_id,
        app.json()["public_key"],
        template.json()["id"],
        listed.json()["id"],
        segment.json()["id"],
    )


CONTENT = {
    "title": "Hi {{ name }}",
    "subtitle": "Sub",
    "body": "Body",
    "sound": "default",
    "thread_id": "thread",
    "category": "cat",
    "deeplink": "https://example.com/open",
    "data": {"k": "v", "deep": {"list": ["x"]}},
}
OPTIONS = {"collapse_key": "ck", "labels": ["l1"], "android_channel_id": "news"}

#: route name -> (method, path, a valid body); {app}, {template}, {list}, {segment} are filled in.
ROUTES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "projects": ("POST", "/v1/projects", {"id": "p-new", "name": "New"}),
    "keys": ("POST", "/v1/keys", {"scopes": ["send"], "app_ids": ["{app}"], "name": "k"}),
    "apps": ("POST", "/v1/apps", {"id": "app-new", "name": "New"}),
    "apns": (
        "PUT",
        "/v1/apps/{app}/providers/apns",
        {
            "team_id": "ABCDE12345",
            "key_id": "KEY1234567",
            "private_key": "P8",
            "topic": "com.example.app",
            "environment": "sandbox",
        },
    ),
    "fcm": ("PUT", "/v1/apps/{app}/providers/fcm", {"service_account": "SA"}),
    "webpush": ("PUT", "/v1/apps/{app}/providers/webpush", {"subject": "mailto:ops@example.com"}),
    "installations": (
        "PUT",
        "/v1/apps/{app}/installations/dev-2",
        {
            "platform": "android",
            "token": "tok-2",
            "external_id": "bob",
            "language": "en",
            "timezone": "Europe/Paris",
            "tags": ["vip"],
            "attributes": {"plan": "gold", "prefs": {"color": "blue"}},
        },
    ),
    "contacts": (
        "PUT",
        "/v1/contacts/ann",
        {
            "email": "ann@example.com",
            "phone": "+14155550123",
            "language": "fr",
            "timezone": "Europe/Paris",
            "attributes": {"plan": "gold", "prefs": {"color": "blue"}},
        },
    ),
    "sends": (
        "POST",
        "/v1/sends",
        {
            "recipients": {"external_ids": ["ann"]},
            "content": CONTENT,
            "options": OPTIONS,
            "params": {"name": "Ann"},
        },
    ),
    "broadcasts": (
        "POST",
        "/v1/sends",
        {"audience": {"segment_id": "{segment}"}, "content": {"title": "T", "body": "B"}},
    ),
    "preview": (
        "POST",
        "/v1/sends/preview",
        {"recipient": {"external_id": "ann"}, "content": CONTENT, "params": {"name": "Ann"}},
    ),
    "templates": (
        "POST",
        "/v1/templates",
        {"name": "W", "contents": [{**CONTENT, "language": "en"}, CONTENT], "options": OPTIONS},
    ),
    "template_put": (
        "PUT",
        "/v1/templates/{template}",
        {"name": "W", "contents": [CONTENT], "options": OPTIONS},
    ),
    "template_patch": ("PATCH", "/v1/templates/{template}", {"name": "W2"}),
    "lists": ("POST", "/v1/lists", {"name": "L", "description": "D"}),
    "members": ("POST", "/v1/lists/{list}/members", {"external_ids": ["ann", "bob"]}),
    "members_remove": ("POST", "/v1/lists/{list}/members/remove", {"external_ids": ["bob"]}),
    "segments": (
        "POST",
        "/v1/segments",
        {
            "name": "S",
            "filter": {
                "languages": ["en"],
                "tags": {"any": ["vip"]},
                "contact_attributes": {"plan": "gold"},
            },
        },
    ),
    "segment_put": ("PUT", "/v1/segments/{segment}", {"name": "S", "filter": {"apps": ["{app}"]}}),
    "events": ("POST", "/v1/events", {"installation_id": "dev-1", "type": "opened"}),
}


def fill(value: Any, world: World) -> Any:
    """Replace the placeholders of a route table entry with the world's ids."""
    if isinstance(value, str):
        real = {"P8": p8_key(), "SA": ""}.get(value, value)
        return (
            real.replace("{app}", world.app_id)
            .replace("{template}", world.template_id)
            .replace("{list}", world.list_id)
            .replace("{segment}", world.segment_id)
        )
    if isinstance(value, dict):
        if value.get("service_account") == "SA":
            return {"service_account": service_account()}
        return {key: fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, world) for item in value]
    return value


async def call(world: World, route: str, body: Any) -> httpx.Response:
    """Send one request of a route with `body`."""
    method, path, _ = ROUTES[route]
    return await world.http.request(
        method, fill(path, world), content=encoded(body), headers=world.headers(route) | JSON
    )


def refused(response: httpx.Response, field: str) -> None:
    """A 400 in the native shape naming `field`."""
    assert response.status_code == 400, (field, response.status_code, response.text)
    error = error_of(response)
    assert error["code"] == "MALFORMED_PARAMETER", error
    assert error["field"] == field, (field, error)


@pytest.mark.parametrize("route", list(ROUTES))
async def test_hostile_text_in_any_field_is_refused_naming_it(
    client: httpx.AsyncClient, route: str
) -> None:
    world = await make_world(client)
    body = fill(ROUTES[route][2], world)
    if route in ("projects", "apps"):
        body["id"] = f"x-{uuid.uuid4().hex[:8]}"
    accepted = await call(world, route, body)
    assert accepted.status_code < 300, accepted.text
    for field, hostile in poisoned_bodies(body):
        refused(await call(world, route, hostile), field)


OBJECT_FIELDS = {
    "installations": ("attributes",),
    "contacts": ("attributes",),
    "sends": ("content.data", "params"),
    "templates": ("contents[0].data",),
    "preview": ("params",),
}


@pytest.mark.parametrize("route", list(OBJECT_FIELDS))
async def test_hostile_keys_and_deep_nesting_in_free_form_objects(
    client: httpx.AsyncClient, route: str
) -> None:
    world = await make_world(client)
    body = fill(ROUTES[route][2], world)
    for field in OBJECT_FIELDS[route]:
        parts = tuple(
            int(part) if part.isdigit() else part
            for part in field.replace("[", ".").replace("]", "").split(".")
        )
        for key in ("k\x00", "k\udfff"):
            refused(await call(world, route, with_key(body, parts, key)), field)
        deep = with_key(body, parts, "deep")
        target = deep
        for part in parts:
            target = target[part]
        target["deep"] = nested(300)
        response = await call(world, route, deep)
        assert response.status_code == 400, response.text
        assert error_of(response)["field"].startswith(f"{field}.deep.a.a"), response.text


async def test_hostile_path_and_query_parameters(
    client: httpx.AsyncClient, project: Project
) -> None:
    cases = [
        ("PUT", "/v1/contacts/a%00b", {"language": "en"}, "external_id"),
        ("GET", "/v1/contacts/a%00b", None, "external_id"),
        ("PUT", "/v1/caps/a%00b", {"max": 1, "period_seconds": 60}, "label"),
        ("GET", "/v1/templates/a%00b", None, "template_id"),
        ("GET", "/v1/sends/a%00b", None, "send_id"),
        ("GET", "/v1/lists/a%00b/members", None, "list_id"),
        ("DELETE", "/v1/segments/a%00b", None, "segment_id"),
        ("GET", "/v1/apps/a%00b", None, "app_id"),
        ("GET", "/v1/contacts?cursor=a%00b", None, "cursor"),
    ]
    for method, path, body, field in cases:
        response = await client.request(method, path, json=body, headers=project.headers)
        refused(response, field)
