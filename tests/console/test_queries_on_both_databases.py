"""The console's own reads (counts, charts, searches) on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from clarion.config import Settings
from clarion.console.server import create_server
from tests.conftest import Project, make_project


@pytest.fixture
async def console_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A started server with the console, and a client that keeps cookies."""
    app = create_server(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            yield http


async def _signed_in(http: httpx.AsyncClient, project: Project) -> str:
    page = await http.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    answer = await http.post("/signin", data={"csrf": token.group(1), "key": project.key})
    assert answer.status_code == 303, answer.text
    compose = await http.get("/compose")
    csrf = re.search(r'name="csrf" value="([^"]+)"', compose.text)
    assert csrf
    return csrf.group(1)


async def test_counts_charts_and_searches_answer_on_each_database(
    console_client: httpx.AsyncClient,
) -> None:
    http = console_client
    project = await make_project(http)
    app_id = f"{project.id}-app"
    created = await http.post(
        "/v1/apps", json={"id": app_id, "name": "App"}, headers=project.headers
    )
    assert created.status_code == 201
    for name, platform, contact in (
        ("a1", "android", "ann"),
        ("a2", "android", "bob"),
        ("i1", "ios", "ann"),
    ):
        body = {"platform": platform, "external_id": contact, "tags": ["beta"]}
        body["token"] = f"tok-{name}" if platform == "android" else "ab" * 32
        put = await http.put(
            f"/v1/apps/{app_id}/installations/{name}", json=body, headers=project.headers
        )
        assert put.status_code in (200, 201), put.text
    csrf = await _signed_in(http, project)
    sent = await http.post(
        "/v1/sends",
        json={"recipients": {"external_ids": ["ann", "nobody_%"]}, "content": {"body": "x"}},
        headers=project.headers,
    )
    assert sent.status_code == 201, sent.text

    overview = await http.get("/")
    assert overview.status_code == 200
    assert "Sends per hour" in overview.text and "Sends per day" in overview.text
    live = await http.post("/compose/live", data={"csrf": csrf, "audience": "all"})
    assert 'data-audience-size="3"' in live.text
    tagged = await http.post(
        "/segments/count", data={"csrf": csrf, "platform": "android", "tags_any": "beta"}
    )
    assert 'data-segment-size="2"' in tagged.text
    trail = await http.get(f"/sends/{sent.json()['id']}", params={"q": "nobody_%"})
    assert trail.status_code == 200 and "nobody_%" in trail.text
    missing = await http.get(f"/sends/{sent.json()['id']}", params={"q": "nobody_x"})
    assert "No delivery matches." in missing.text
    devices = await http.get("/devices", params={"q": "ann"})
    assert devices.text.count('class="device"') == 2
    browse = await http.get("/registry/contacts", params={"after": "0"})
    assert browse.status_code == 200 and ">a2<" in browse.text
    for contact in ("a\x00b", "\r\n", "x" * 100_000):
        refused = await http.post(
            "/compose/live",
            data={"csrf": csrf, "audience": "contact", "contact": contact, "title": contact},
        )
        assert refused.status_code == 200 and "data-audience-size" in refused.text
    for query in ("%00%ED%A0%80" + "x" * 10_000, "%FF%FE", "a%0D%0Ab"):
        hostile = await http.get("/devices?q=" + query)
        assert hostile.status_code == 200
        trail = await http.get(f"/sends/{sent.json()['id']}?q={query}&after=99999999999999999999")
        assert trail.status_code == 200


async def test_editing_a_template_keeps_its_other_languages_and_options(
    console_client: httpx.AsyncClient,
) -> None:
    http = console_client
    project = await make_project(http)
    created = await http.post(
        "/v1/templates",
        json={
            "name": "Welcome",
            "contents": [
                {"language": "fr", "title": "Bienvenue", "body": "{% if x %}"},
                {"title": "Welcome", "body": "Hello", "deeplink": "app://home"},
            ],
            "options": {"priority": "high"},
        },
        headers=project.headers,
    )
    assert created.status_code == 400  # the French body does not compile: fix it first
    created = await http.post(
        "/v1/templates",
        json={
            "name": "Welcome",
            "contents": [
                {"language": "fr", "title": "Bienvenue", "body": "Salut"},
                {"title": "Welcome", "body": "Hello", "deeplink": "app://home"},
            ],
            "options": {"priority": "high"},
        },
        headers=project.headers,
    )
    template_id = created.json()["id"]
    csrf = await _signed_in(http, project)
    editor = await http.get(f"/templates/{template_id}")
    assert "the contents in fr are kept" in editor.text
    form = {"csrf": csrf, "template_id": template_id, "name": "Welcome 2", "status": "active"}
    broken = await http.post("/templates/save", data=form | {"title": "Hi", "body": "a\n{{ x | }}"})
    assert broken.status_code == 400 and 'data-field="body"' in broken.text
    saved = await http.post("/templates/save", data=form | {"title": "Hi", "body": "New"})
    assert saved.status_code == 303
    stored = (await http.get(f"/v1/templates/{template_id}", headers=project.headers)).json()
    assert stored["name"] == "Welcome 2"
    assert stored["options"] == {"priority": "high"}
    assert stored["contents"] == [
        {"language": "fr", "title": "Bienvenue", "body": "Salut"},
        {"title": "Hi", "body": "New", "deeplink": "app://home"},
    ]
