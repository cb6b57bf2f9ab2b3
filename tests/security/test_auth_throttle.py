"""Failed authentication is throttled per client address and per key id, on every door."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from clarion.api.app import create_app
from clarion.config import Settings
from tests.conftest import ADMIN_KEY, Project, admin_headers, make_project

LIMIT = 5
Clients = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def clients(database_url: str, tmp_path: Path) -> AsyncIterator[Clients]:
    """HTTP clients of one started Clarion, each seen as coming from its own address."""
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        rate_limit="",
        auth_failure_limit=f"{LIMIT}/minute",
        inprocess_workers=False,
    )
    app: FastAPI = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))

        async def client_from(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            http = httpx.AsyncClient(transport=transport, base_url="http://clarion.test")
            return await stack.enter_async_context(http)

        yield client_from


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _guess() -> str:
    return f"clk_{uuid.uuid4().hex[:16]}_{uuid.uuid4().hex}"


async def _fail_until_throttled(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    for _ in range(LIMIT):
        response = await call()
        assert response.status_code == 401, response.text
    return await call()


async def test_an_address_that_keeps_failing_is_refused_with_retry_after(
    clients: Clients,
) -> None:
    guesser = await clients("127.0.0.2")
    project = await make_project(guesser)
    throttled = await _fail_until_throttled(
        lambda: guesser.get("/v1/apps", headers=_bearer(_guess()))
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # Over the limit nothing from that address is even checked, valid keys included.
    assert (await guesser.get("/v1/apps", headers=project.headers)).status_code == 429
    other = await clients("127.0.0.3")
    assert (await other.get("/v1/apps", headers=project.headers)).status_code == 200
    assert (await other.get("/v1/apps", headers=_bearer(_guess()))).status_code == 401


async def test_a_key_id_guessed_from_many_addresses_is_refused(clients: Clients) -> None:
    setup = await clients("127.0.0.2")
    project = await make_project(setup)
    key_id = project.key.split("_")[1]
    for index in range(LIMIT):
        guesser = await clients(f"127.0.1.{index + 1}")
        wrong = await guesser.get("/v1/apps", headers=_bearer(f"clk_{key_id}_wrong{index}"))
        assert wrong.status_code == 401
    fresh = await clients("127.0.2.1")
    throttled = await fresh.get("/v1/apps", headers=_bearer(f"clk_{key_id}_wrong"))
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    # The rightful holder is never locked out by guesses at its key id.
    assert (await fresh.get("/v1/apps", headers=project.headers)).status_code == 200
    # Other keys, from anywhere, are not affected.
    other = await make_project(setup)
    assert (await fresh.get("/v1/apps", headers=other.headers)).status_code == 200


async def test_guesses_at_the_server_admin_key_are_throttled(clients: Clients) -> None:
    guesser = await clients("127.0.0.4")
    throttled = await _fail_until_throttled(
        lambda: guesser.get("/v1/projects", headers=_bearer("x" * 40))
    )
    assert throttled.status_code == 429
    assert (await guesser.get("/v1/projects", headers=admin_headers())).status_code == 429
    operator = await clients("127.0.0.5")
    assert (await operator.get("/v1/projects", headers=admin_headers())).status_code == 200


async def test_successful_requests_are_never_counted_or_slowed(clients: Clients) -> None:
    http = await clients("127.0.0.6")
    project = await make_project(http)
    for round_ in range(4 * LIMIT):
        assert (await http.get("/v1/apps", headers=project.headers)).status_code == 200
        assert (await http.get("/v1/projects", headers=admin_headers())).status_code == 200
        if round_ < LIMIT - 1:
            assert (await http.get("/v1/apps", headers=_bearer(_guess()))).status_code == 401


async def _dialect_setup(http: httpx.AsyncClient) -> tuple[Project, str]:
    project = await make_project(http)
    app_id = f"{project.id}-app"
    response = await http.post(
        "/v1/apps", json={"id": app_id, "name": "A"}, headers=project.headers
    )
    assert response.status_code == 201, response.text
    return project, app_id


async def test_every_dialect_and_the_sdk_door_throttle_failures(clients: Clients) -> None:
    project, app_id = await _dialect_setup(await clients("127.0.0.7"))

    batch = await clients("127.0.3.1")
    answer = await _fail_until_throttled(
        lambda: batch.post(
            f"/1.1/{app_id}/transactional/send", json={}, headers={"X-Authorization": _guess()}
        )
    )
    assert (answer.status_code, answer.json()["name"]) == (429, "TOO_MANY_REQUESTS")
    assert "Retry-After" in answer.headers

    dengage = await clients("127.0.3.2")
    answer = await _fail_until_throttled(
        lambda: dengage.post("/api/transactional/push", json={}, headers=_bearer(_guess()))
    )
    assert (answer.status_code, answer.json()["errorCode"]) == (429, "TooManyRequest")
    assert "Retry-After" in answer.headers

    sfmc = await clients("127.0.3.3")
    answer = await _fail_until_throttled(
        lambda: sfmc.post("/push/v1/message", json={}, headers=_bearer(_guess()))
    )
    assert answer.status_code == 429 and "errors" in answer.json()
    assert "Retry-After" in answer.headers

    pushv2 = await clients("127.0.3.4")
    answer = await _fail_until_throttled(
        lambda: pushv2.post(
            "/api/v2/push?format=json",
            json={"CompanyId": 1, "IntegrationKey": _guess(), "UserId": "u", "Body": "b"},
        )
    )
    assert answer.status_code == 429
    assert answer.json()["ResponseStatus"]["ErrorCode"] == "TooManyRequests"
    assert "Retry-After" in answer.headers

    sdk = await clients("127.0.3.5")
    answer = await _fail_until_throttled(
        lambda: sdk.post(
            "/v1/events",
            json={"installation_id": "i1", "type": "opened"},
            headers={"Clarion-App-Key": _guess()},
        )
    )
    assert answer.status_code == 429 and "Retry-After" in answer.headers

    # The project's own key still goes through from an address that did not fail.
    clean = await clients("127.0.3.6")
    assert (await clean.get(f"/v1/apps/{app_id}", headers=project.headers)).status_code == 200


def test_a_short_admin_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CLARION_ADMIN_KEY must be at least 32"):
        Settings(admin_key="x" * 31, var_dir=tmp_path)
    assert Settings(admin_key="x" * 32, var_dir=tmp_path).admin_key == "x" * 32
    env = os.environ | {"CLARION_ADMIN_KEY": "too-short", "CLARION_VAR_DIR": str(tmp_path)}
    started = subprocess.run(
        [sys.executable, "-c", "from clarion.cli import app; app()", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "CLARION_ADMIN_KEY must be at least 32 characters long" in started.stderr
    assert "Traceback" not in started.stderr
    assert not (tmp_path / "clarion.db").exists()
