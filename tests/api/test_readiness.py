"""/readyz answers 503 when the database cannot take a write; an outage answers 503, not 500."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.store.engine import create_engine
from tests.conftest import (
    ADMIN_KEY,
    PG_ADMIN_DSN,
    Project,
    make_project,
    make_settings,
    running_client,
)
from tests.tcp_proxy import TcpProxy


@asynccontextmanager
async def _running(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, tmp_path, inprocess_workers=False)
    async with running_client(settings) as http:
        yield http


async def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_DSN).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def _set_read_only(database: str, on: bool) -> None:
    """Make new sessions of one database read-only (or writable) and end the current ones."""
    setting = "SET default_transaction_read_only = on" if on else "RESET ALL"
    await _pg_admin(f'ALTER DATABASE "{database}" {setting}')
    await _pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )


async def test_readyz_reports_a_database_that_reads_but_cannot_write(
    own_database_url: str, tmp_path: Path
) -> None:
    async with _running(own_database_url, tmp_path) as http:
        assert (await http.get("/readyz")).status_code == 200
        if own_database_url.startswith("sqlite"):
            # Another process holds SQLite's write lock: reads still work, writes wait.
            holder = sqlite3.connect(make_url(own_database_url).database or "", timeout=5)
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            blocked = await http.get("/readyz")
            waited = time.monotonic() - started
            holder.rollback()
            holder.close()
            assert 0.9 < waited < 4, waited
        else:
            # A database that only accepts reads, as after a failover to a standby.
            database = make_url(own_database_url).database or ""
            await _set_read_only(database, True)
            try:
                blocked = await http.get("/readyz")
            finally:
                await _set_read_only(database, False)
        assert blocked.status_code == 503, blocked.text
        assert blocked.json()["error"]["code"] == "NOT_READY"
        assert "write" in blocked.json()["error"]["message"]
        assert (await http.get("/readyz")).status_code == 200


def _expect_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


async def _expect_dialects_unavailable(http: httpx.AsyncClient, project: Project) -> None:
    """Every dialect answers the outage with 503 and Retry-After, in its own error shape."""
    dengage = await http.post("/api/transactional/push", json={}, headers=project.headers)
    sfmc = await http.post("/push/v1/message", json={}, headers=project.headers)
    batch = await http.post(
        "/1.1/app/transactional/send", json={}, headers={"X-Authorization": project.key}
    )
    pushv2 = await http.post(
        "/api/v2/push?format=json",
        json={"UserId": "u", "Body": "b", "CompanyId": 1, "IntegrationKey": project.key},
    )
    for response in (dengage, sfmc, batch, pushv2):
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
    assert dengage.json()["errorCode"] == "ServiceUnavailable"
    assert sfmc.json()["errors"]
    assert batch.json()["name"] == "MAINTENANCE_ERROR"
    assert pushv2.json()["ResponseStatus"]["ErrorCode"] == "ServiceUnavailable"


async def test_postgresql_outage_answers_503_then_recovers(
    pg_database: str, tmp_path: Path
) -> None:
    target = make_url(pg_database)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with _running(proxied, tmp_path) as http:
            project: Project = await make_project(http, ["admin", "registry", "send", "read"])
            await proxy.cut()
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "NOT_READY"
            _expect_unavailable(await http.get("/v1/contacts", headers=project.headers))
            _expect_unavailable(
                await http.put("/v1/contacts/ann", json={}, headers=project.headers)
            )
            await _expect_dialects_unavailable(http, project)
            await proxy.start()
            assert (await http.get("/readyz")).status_code == 200
            response = await http.put("/v1/contacts/ann", json={}, headers=project.headers)
            assert response.status_code == 201, response.text
    finally:
        await proxy.cut()


async def test_read_only_sqlite_answers_503(tmp_path: Path) -> None:
    path = tmp_path / "clarion.db"
    async with _running(f"sqlite+aiosqlite:///{path}", tmp_path) as http:
        project = await make_project(http, ["admin", "registry", "send", "read"])
    # The same file opened read-only, as on a read-only or failing filesystem.
    read_only = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    settings = Settings(
        database_url=read_only,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        inprocess_workers=False,
    )
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            assert (await http.get("/readyz")).status_code == 503
            listed = await http.get("/v1/contacts", headers=project.headers)
            assert listed.status_code == 200, listed.text
            _expect_unavailable(
                await http.put("/v1/contacts/ann", json={}, headers=project.headers)
            )


async def test_write_probe_is_quick(own_database_url: str, tmp_path: Path) -> None:
    async with _running(own_database_url, tmp_path) as http:
        started = time.monotonic()
        for _ in range(20):
            assert (await http.get("/readyz")).status_code == 200
        per_probe = (time.monotonic() - started) / 20
    assert per_probe < 0.25, per_probe
