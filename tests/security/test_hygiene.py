"""Hygiene: protection headers, owner-only files, and no client key left on disk."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.delivery.clients import ProviderClients
from clarion.providers.apns import ApnsClient
from clarion.store import apps as app_store
from tests.conftest import ADMIN_KEY, Project, make_project
from tests.local_outbound import LOCAL_ALLOWLIST, LOCAL_OUTBOUND
from tests.providers.h2_server import H2TestServer
from tests.providers.tls_material import TlsMaterial, make_tls_material


async def test_every_response_carries_the_protection_headers(client: httpx.AsyncClient) -> None:
    answers = {
        "json": await client.get("/healthz"),
        "error": await client.get("/v1/apps"),
        "no route": await client.get("/v1/no-such-route"),
        "schema": await client.get("/openapi.json"),
    }
    assert [a.status_code for a in answers.values()] == [200, 401, 404, 200]
    for name, answer in answers.items():
        assert answer.headers["X-Content-Type-Options"] == "nosniff", name
        assert answer.headers["X-Frame-Options"] == "DENY", name
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], name


async def test_html_pages_get_a_policy_that_admits_only_their_own_scripts(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["X-Frame-Options"] == "DENY"
        policy = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert "'unsafe-inline'" not in directives["script-src"]
        for script in re.findall(rb"<script>(.*?)</script>", page.content, re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
            assert f"'sha256-{digest}'" in directives["script-src"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask, which would leave new files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_var_directory_and_sqlite_files_are_owner_only(tmp_path: Path) -> None:
    var_dir = tmp_path / "deploy" / "var"
    settings = Settings(var_dir=var_dir, admin_key=ADMIN_KEY, inprocess_workers=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            await make_project(http)
            database = var_dir / "clarion.db"
            files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
            files.append(var_dir / "secret.key")
            for path in files:
                assert path.exists(), path
                assert _mode(path) == 0o600, (path, oct(_mode(path)))
    for directory in (tmp_path / "deploy", var_dir):
        assert _mode(directory) == 0o700, (directory, oct(_mode(directory)))


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_file_elsewhere_is_owner_only_too(tmp_path: Path) -> None:
    database = tmp_path / "data" / "push.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        var_dir=tmp_path / "var",
        secret_key="s",
        inprocess_workers=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass
    assert _mode(database) == 0o600
    assert _mode(database.parent) == 0o700


@pytest.fixture
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where anything the process writes as a temporary file would land."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def _files_holding(directory: Path, needle: bytes) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings whose providers may be this module's own servers on 127.0.0.1."""
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        outbound_allowlist=LOCAL_ALLOWLIST,
    )


async def test_apns_certificate_key_is_never_written_to_disk(
    client: httpx.AsyncClient, project: Project, tmp_path: Path, private_tempdir: Path
) -> None:
    tls: TlsMaterial = make_tls_material(tmp_path)
    server = H2TestServer(tls.server_context(["h2"], require_client_cert=True))
    url = await server.start()
    try:
        app_id = f"{project.id}-cert"
        response = await client.post(
            "/v1/apps", json={"id": app_id, "name": "Cert"}, headers=project.headers
        )
        assert response.status_code == 201
        response = await client.put(
            f"/v1/apps/{app_id}/providers/apns",
            json={
                "auth_type": "certificate",
                "certificate": tls.client_cert.read_text(),
                "private_key": tls.client_key.read_text(),
                "topic": "com.example.app",
                "endpoint": url,
            },
            headers=project.headers,
        )
        assert response.status_code == 200, response.text
        state = client._transport.app.state.clarion  # type: ignore[attr-defined]
        async with state.engine.connect() as conn:
            app_row = await app_store.get_app(conn, app_id)
        assert app_row is not None
        clients = ProviderClients(state.engine, state.secrets, tls.ca_file, LOCAL_OUTBOUND)
        try:
            apns, _ = await clients.get(app_row["pk"], "apns")
            assert isinstance(apns, ApnsClient)
            payload = json.dumps({"aps": {"alert": "hi"}}).encode()
            result = await apns.send("a" * 64, {"apns-topic": "com.example.app"}, payload)
            assert result.sent, result
            key_line = tls.client_key.read_text().splitlines()[1].encode()
            assert _files_holding(private_tempdir, key_line) == []
        finally:
            await clients.close()
    finally:
        await server.stop()


_KILLED_WHILE_LOADED = """
import os, signal, ssl, sys
from clarion.providers.tls import client_ssl_context, load_client_certificate
context = client_ssl_context()
load_client_certificate(context, open(sys.argv[1]).read(), open(sys.argv[2]).read())
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_leaves_no_client_key_behind(tmp_path: Path) -> None:
    tls = make_tls_material(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = os.environ | {"TMPDIR": str(scratch)}
    died = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_LOADED, str(tls.client_cert), str(tls.client_key)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert list(scratch.rglob("*")) == []
