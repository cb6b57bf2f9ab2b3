"""The batch dialect's documented errors: names, numeric codes, statuses and fields."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.emulators.tls import TlsFiles, ensure_tls_files
from tests.conftest import ADMIN_KEY, Project, admin_headers, make_project
from tests.local_outbound import LOCAL_ALLOWLIST

BODY: dict[str, Any] = {
    "group_id": "welcome",
    "recipients": {"custom_ids": ["ann"]},
    "message": {"title": "Hi", "body": "Welcome"},
}
ADVERTISING_ID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


class Batch:
    """A project with one app and a sending key, seen through the batch route."""

    def __init__(self, http: httpx.AsyncClient, project: Project, app_id: str) -> None:
        self.http = http
        self.project = project
        self.app_id = app_id

    async def post(
        self, body: Any, key: str | None = None, app_id: str | None = None
    ) -> httpx.Response:
        """POST a document (a dict as JSON, bytes as they are) to the send route."""
        url = f"/1.1/{app_id or self.app_id}/transactional/send"
        headers = {"X-Authorization": key or self.project.key}
        if isinstance(body, bytes):
            return await self.http.post(url, content=body, headers=headers)
        return await self.http.post(url, json=body, headers=headers)

    async def key(self, scopes: list[str], app_ids: list[str] | None = None) -> str:
        """A new key of the project."""
        response = await self.http.post(
            "/v1/keys",
            json={"scopes": scopes, "app_ids": app_ids},
            headers=admin_headers(self.project.id),
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key


async def make_app(http: httpx.AsyncClient, project: Project, app_id: str) -> None:
    """Create an app in the project."""
    response = await http.post(
        "/v1/apps", json={"id": app_id, "name": app_id}, headers=project.headers
    )
    assert response.status_code == 201, response.text


@pytest.fixture
async def batch(client: httpx.AsyncClient) -> Batch:
    """A project with one app."""
    project = await make_project(client)
    await make_app(client, project, f"{project.id}-app")
    return Batch(client, project, f"{project.id}-app")


def expect(response: httpx.Response, status: int, code: int, name: str) -> dict[str, Any]:
    """Check a batch error response and return its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["name"] == name, body
    assert body["message"]
    return body


def with_changes(**changes: Any) -> dict[str, Any]:
    """The valid body with top-level fields replaced (None removes a field)."""
    body = copy.deepcopy(BODY)
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


async def test_a_valid_send_is_accepted(batch: Batch) -> None:
    response = await batch.post(BODY)
    assert response.status_code == 201 and set(response.json()) == {"token"}
    status = await batch.http.get(
        f"/v1/sends/{response.json()['token']}", headers=batch.project.headers
    )
    assert status.status_code == 200 and status.json()["kind"] == "transactional"


async def test_authentication(batch: Batch) -> None:
    url = f"/1.1/{batch.app_id}/transactional/send"
    missing = await batch.http.post(url, json=BODY)
    expect(missing, 401, 10, "AUTHENTICATION_INVALID")
    expect(await batch.post(BODY, key="clk_nope_nope"), 401, 10, "AUTHENTICATION_INVALID")
    bearer_only = await batch.http.post(url, json=BODY, headers=batch.project.headers)
    expect(bearer_only, 401, 10, "AUTHENTICATION_INVALID")
    expect(await batch.post(BODY, app_id="no-such-app"), 401, 10, "AUTHENTICATION_INVALID")
    other = await make_project(batch.http)
    await make_app(batch.http, other, f"{other.id}-app")
    expect(await batch.post(BODY, app_id=f"{other.id}-app"), 401, 10, "AUTHENTICATION_INVALID")


async def test_scopes_and_app_limits(batch: Batch) -> None:
    expect(await batch.post(BODY, key=await batch.key(["read"])), 403, 12, "API_MISUSE")
    await make_app(batch.http, batch.project, f"{batch.project.id}-other")
    elsewhere = await batch.key(["send"], [f"{batch.project.id}-other"])
    expect(await batch.post(BODY, key=elsewhere), 403, 12, "API_MISUSE")
    here = await batch.key(["send"], [batch.app_id])
    assert (await batch.post(BODY, key=here)).status_code == 201


async def test_unknown_routes_under_the_prefix(batch: Batch) -> None:
    for method, path in (
        ("GET", f"/1.1/{batch.app_id}/transactional/send"),
        ("POST", f"/1.1/{batch.app_id}/campaigns/create"),
        ("DELETE", "/1.1/"),
        ("POST", "/1.1/a/b/c/d"),
    ):
        response = await batch.http.request(method, path, headers={"X-Authorization": "x"})
        expect(response, 404, 20, "ROUTE_NOT_FOUND")


async def test_malformed_json_bodies(batch: Batch) -> None:
    for raw in (b"", b"{", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"):
        expect(await batch.post(raw), 400, 32, "MALFORMED_JSON_BODY")


MISSING_CASES: list[tuple[dict[str, Any], str]] = [
    (with_changes(group_id=None), "group_id"),
    (with_changes(recipients=None), "recipients"),
    (with_changes(recipients={}), "recipients"),
    (with_changes(recipients={"tokens": []}), "recipients"),
    (with_changes(message=None), "message"),
    (with_changes(message={"title": "no body"}), "message.body"),
    (with_changes(message=None, messages=[{"language": "fr", "title": "t"}]), "messages[0].body"),
    (
        with_changes(landing={"theme": "t", "contents": [{"language": "fr"}, {"language": "es"}]}),
        "landing.contents",
    ),
    (
        with_changes(landing={"theme": "t", "actions": [{"action": "x"}]}),
        "landing.actions[0].label",
    ),
    (with_changes(landing={"title": "no theme"}), "landing.theme"),
]

MALFORMED_CASES: list[tuple[dict[str, Any], str]] = [
    (with_changes(group_id="has space"), "group_id"),
    (with_changes(group_id=12), "group_id"),
    (with_changes(unknown=True), "unknown"),
    (with_changes(labels=["a", "b", "c", "d"]), "labels"),
    (with_changes(labels="a"), "labels"),
    (with_changes(labels=[3]), "labels[0]"),
    (with_changes(priority="urgent"), "priority"),
    (with_changes(time_to_live=0), "time_to_live"),
    (with_changes(time_to_live=28 * 86400 + 1), "time_to_live"),
    (with_changes(time_to_live="3600"), "time_to_live"),
    (with_changes(gcm_collapse_key="key"), "gcm_collapse_key"),
    (with_changes(gcm_collapse_key={"enabled": "maybe"}), "gcm_collapse_key.enabled"),
    (with_changes(gcm_collapse_key={"key": "x" * 65}), "gcm_collapse_key.key"),
    (with_changes(push_type="silent"), "push_type"),
    (with_changes(push_type="background"), "message"),
    (
        with_changes(push_type="background", message=None, media={"icon": "https://a.b/i.png"}),
        "media",
    ),
    (with_changes(skip_media_check="yes"), "skip_media_check"),
    (with_changes(sandbox=1), "sandbox"),
    (with_changes(wp_template="modern"), "wp_template"),
    (with_changes(recipients={"emails": ["a@b.co"]}), "recipients.emails"),
    (with_changes(recipients={"tokens": "abc"}), "recipients.tokens"),
    (with_changes(recipients={"custom_ids": [" "]}), "recipients.custom_ids[0]"),
    (with_changes(recipients={"advertising_ids": ["not-a-uuid"]}), "recipients.advertising_ids[0]"),
    (with_changes(recipients={"install_ids": ["ok", 5]}), "recipients.install_ids[1]"),
    (with_changes(recipients={"tokens": ["has space"]}), "recipients.tokens[0]"),
    (with_changes(recipients={"tokens": ["t1"]}, labels=["promo"]), "labels"),
    (
        with_changes(recipients={"tokens": ["t1"]}, message=None, messages=[{"body": "x"}]),
        "messages",
    ),
    (with_changes(messages=[{"body": "x"}]), "messages"),
    (with_changes(message=None, messages=[]), "messages"),
    (with_changes(message=None, messages=[{"body": "a"}, {"body": "b"}]), "messages"),
    (with_changes(message=None, messages=[{"language": "fr", "body": "a"}]), "messages"),
    (
        with_changes(message=None, messages=[{"language": "fr", "body": "a"}, {"body": "b"}, 1]),
        "messages[2]",
    ),
    (
        with_changes(message=None, messages=[{"language": "??", "body": "a"}, {"body": "b"}]),
        "messages[0].language",
    ),
    (with_changes(message={"body": "b", "subtitle": "s"}), "message.subtitle"),
    (with_changes(message={"body": 5}), "message.body"),
    (with_changes(message="text"), "message"),
    (with_changes(media={"banner": "https://a.b/c.png"}), "media.banner"),
    (with_changes(media={"icon": "ftp://a.b/c.png"}), "media.icon"),
    (with_changes(media=["https://a.b/c.png"]), "media"),
    (with_changes(deeplink=" "), "deeplink"),
    (with_changes(deeplink="app://x", landing={"theme": "t"}), "deeplink"),
    (with_changes(custom_payload={"x": "y"}), "custom_payload"),
    (with_changes(custom_payload="{not json"), "custom_payload"),
    (with_changes(custom_payload="[1]"), "custom_payload"),
    (with_changes(landing={"theme": "t", "image": "nope"}), "landing.image"),
    (with_changes(message={"body": "{{ unclosed"}), "message.body"),
    (with_changes(message={"body": "x" * 5000}), "message"),
    (with_changes(custom_payload='{"": 1}'), 'custom_payload[""]'),
    (
        with_changes(
            message=None, messages=[{"language": "fr", "body": "a"}, {"body": "{% if %}"}]
        ),
        "messages[1].body",
    ),
    (
        with_changes(
            message=None,
            messages=[{"language": "fr", "body": "a"}, {"body": "b"}],
            media={"icon": "nope"},
        ),
        "media.icon",
    ),
]


async def test_missing_parameters(batch: Batch) -> None:
    for body, field in MISSING_CASES:
        error = expect(await batch.post(body), 400, 30, "MISSING_PARAMETER")
        assert error["field"] == field, (body, error)


async def test_malformed_parameters(batch: Batch) -> None:
    for body, field in MALFORMED_CASES:
        error = expect(await batch.post(body), 400, 31, "MALFORMED_PARAMETER")
        assert error["field"] == field, (body, error)


async def test_recipient_limit(batch: Batch) -> None:
    body = with_changes(recipients={"custom_ids": [f"user-{i}" for i in range(10_001)]})
    error = expect(await batch.post(body), 400, 31, "MALFORMED_PARAMETER")
    assert error["field"] == "recipients" and "10000" in error["message"]
    at_limit = with_changes(recipients={"custom_ids": [f"user-{i}" for i in range(10_000)]})
    assert (await batch.post(at_limit)).status_code == 201


async def test_server_error_answers_in_the_batch_body(tmp_path: Path) -> None:
    # A database of its own: the table this test breaks must not be shared with others.
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}",
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        inprocess_workers=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            project = await make_project(http)
            await make_app(http, project, "broken-app")
            # Every accept writes its send; a send to unknown devices needs no job at all.
            async with app.state.clarion.engine.begin() as conn:
                await conn.exec_driver_sql("DROP TABLE sends")
            response = await Batch(http, project, "broken-app").post(BODY)
    expect(response, 500, 1, "SERVER_ERROR")


async def test_unreachable_database_is_a_maintenance_error(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/clarion",
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        inprocess_workers=False,
    )
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            response = await http.post(
                "/1.1/app/transactional/send", json=BODY, headers={"X-Authorization": "clk_a_b"}
            )
    expect(response, 503, 2, "MAINTENANCE_ERROR")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a certificate for the local media server."""
    return ensure_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tls: TlsFiles) -> Settings:
    """Settings trusting the media server's CA, with the loopback interface opened."""
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        extra_ca_file=tls.ca_file,
        outbound_allowlist=LOCAL_ALLOWLIST,
    )


@pytest.fixture
async def media_server(tls: TlsFiles) -> AsyncIterator[str]:
    """A local HTTPS server answering HEAD for a few kinds of media."""

    def answer(content_type: str, length: int, status: int = 200) -> Any:
        async def handler(_request: web.Request) -> web.Response:
            return web.Response(
                status=status, headers={"Content-Type": content_type, "Content-Length": str(length)}
            )

        return handler

    application = web.Application()
    application.router.add_route("HEAD", "/ok.png", answer("image/png", 2048))
    application.router.add_route("HEAD", "/ok.mp3", answer("audio/mpeg", 2048))
    application.router.add_route("HEAD", "/big.png", answer("image/png", 6 * 1024 * 1024))
    application.router.add_route("HEAD", "/page.png", answer("text/html; charset=utf-8", 10))
    application.router.add_route("HEAD", "/gone.png", answer("image/png", 10, status=404))
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context())
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_media_checks(batch: Batch, media_server: str) -> None:
    good = with_changes(
        media={"picture": f"{media_server}/ok.png", "audio": f"{media_server}/ok.mp3"}
    )
    assert (await batch.post(good)).status_code == 201
    for media, field in (
        ({"picture": f"{media_server}/big.png"}, "media.picture"),
        ({"icon": f"{media_server}/page.png"}, "media.icon"),
        ({"picture": f"{media_server}/gone.png"}, "media.picture"),
        ({"video": f"{media_server}/ok.png"}, "media.video"),
        ({"picture": "https://127.0.0.1:1/closed.png"}, "media.picture"),
        ({"picture": "http://127.0.0.1:1/plain.png"}, "media.picture"),
    ):
        error = expect(await batch.post(with_changes(media=media)), 400, 31, "MALFORMED_PARAMETER")
        assert error["field"] == field, (media, error)
        skipped = with_changes(media=media, skip_media_check=True)
        assert (await batch.post(skipped)).status_code == 201
    templated = with_changes(media={"picture": media_server + "/{{ params.name }}.png"})
    assert (await batch.post(templated)).status_code == 201
