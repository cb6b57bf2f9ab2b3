"""Shared fixtures: a real database per backend and a running Clarion app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.eventloop import LoopFactory, loop_factory, loop_name

ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789"
PG_ADMIN_DSN = os.environ.get(
    "CLARION_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, LoopFactory]:
    """Tests run on the loop production runs on; `every_loop` tests also on asyncio's own."""
    production = {loop_name(): loop_factory()}
    if item.get_closest_marker("every_loop") is None:
        return production
    return {**production, "asyncio": asyncio.new_event_loop}


def _pg_server_dsn(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


@contextlib.contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database for as long as the block runs, dropped after it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield "postgresql+asyncpg://" + _pg_server_dsn(name).split("://", 1)[1]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    with scratch_pg_database("clarion_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests run against a SQLite file and a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'clarion.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a test server with a known admin key; every test seals with one secret."""
    fields: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": tmp_path / "var",
        "admin_key": ADMIN_KEY,
        "secret_key": "test-secret",
    }
    return Settings(**(fields | overrides))


@contextlib.asynccontextmanager
async def running_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a started Clarion app (lifespan run, migrations applied)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            yield http


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings of a test server with a known admin key."""
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a started Clarion app (lifespan run, migrations applied)."""
    async with running_client(settings) as http:
        yield http


def admin_headers(project_id: str | None = None) -> dict[str, str]:
    """Headers of the server admin key, optionally acting in a project."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    if project_id:
        headers["Clarion-Project"] = project_id
    return headers


class Project:
    """A project made for one test, with a key holding every scope."""

    def __init__(self, project_id: str, key: str) -> None:
        self.id = project_id
        self.key = key

    @property
    def headers(self) -> dict[str, str]:
        """Headers authenticating with the project's full key."""
        return {"Authorization": f"Bearer {self.key}"}


async def make_project(http: httpx.AsyncClient, scopes: list[str] | None = None) -> Project:
    """Create a project through the API and an admin-scoped key for it."""
    project_id = f"p-{uuid.uuid4().hex[:8]}"
    response = await http.post(
        "/v1/projects", json={"id": project_id, "name": "Test"}, headers=admin_headers()
    )
    assert response.status_code == 201, response.text
    response = await http.post(
        "/v1/keys", json={"scopes": scopes or ["admin"]}, headers=admin_headers(project_id)
    )
    assert response.status_code == 201, response.text
    return Project(project_id, response.json()["key"])


@pytest.fixture
async def project(client: httpx.AsyncClient) -> Project:
    """A fresh project with an admin key."""
    return await make_project(client)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The native error object of a response."""
    body: dict[str, Any] = response.json()
    return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """Clarion with in-process workers, the emulators, and an app configured for all three."""
    from tests.delivery_env import delivery_env

    async with delivery_env(database_url, tmp_path) as harness:
        yield harness


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no other test writes to: a SQLite file, or a PostgreSQL database dropped after."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        return
    with scratch_pg_database("clarion_own") as url:
        yield url
