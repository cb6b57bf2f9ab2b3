"""Per-key request rate limits: native 429 with Retry-After, and each dialect's own 429."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from clarion.api.app import create_app
from clarion.config import Settings
from tests.conftest import ADMIN_KEY, Project, admin_headers

LIMIT = 5


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A started Clarion whose keys may make LIMIT requests a minute."""
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        rate_limit=f"{LIMIT}/minute",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            yield http


async def _key(client: httpx.AsyncClient, project: Project, scopes: list[str]) -> str:
    response = await client.post(
        "/v1/keys", json={"scopes": scopes}, headers=admin_headers(project.id)
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def _exhaust(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    for _ in range(LIMIT):
        assert (await call()).status_code != 429
    return await call()


async def test_native_api_answers_429_with_retry_after_per_key(
    client: httpx.AsyncClient, project: Project
) -> None:
    key = await _key(client, project, ["read"])
    headers = {"Authorization": f"Bearer {key}"}
    limited = await _exhaust(lambda: client.get("/v1/apps", headers=headers))
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = await _key(client, project, ["read"])
    assert (
        await client.get("/v1/apps", headers={"Authorization": f"Bearer {other}"})
    ).status_code == 200
    # The server admin key is the operator's and is never limited.
    for _ in range(LIMIT + 2):
        assert (await client.get("/v1/projects", headers=admin_headers())).status_code == 200


async def test_each_dialect_answers_its_own_429(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = f"{project.id}-app"
    response = await client.post(
        "/v1/apps", json={"id": app_id, "name": "A"}, headers=admin_headers(project.id)
    )
    assert response.status_code == 201

    key = await _key(client, project, ["send"])
    batch = await _exhaust(
        lambda: client.post(
            f"/1.1/{app_id}/transactional/send", json={}, headers={"X-Authorization": key}
        )
    )
    assert batch.status_code == 429 and batch.json()["code"] == 60
    assert batch.json()["name"] == "TOO_MANY_REQUESTS"

    key = await _key(client, project, ["send"])
    bearer = {"Authorization": f"Bearer {key}"}
    dengage = await _exhaust(
        lambda: client.post("/api/transactional/push", json={}, headers=bearer)
    )
    assert dengage.status_code == 429

    key = await _key(client, project, ["send"])
    bearer = {"Authorization": f"Bearer {key}"}
    sfmc = await _exhaust(lambda: client.post("/push/v1/message", json={}, headers=bearer))
    assert sfmc.status_code == 429 and "errors" in sfmc.json()

    key = await _key(client, project, ["send"])
    body = {"CompanyId": 1, "IntegrationKey": key, "UserId": "ann", "Title": "t", "Body": "b"}
    pushv2 = await _exhaust(lambda: client.post("/api/v2/push?format=json", json=body))
    assert pushv2.status_code == 429
