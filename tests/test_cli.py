"""The `clarion` command as a user runs it: real processes, real databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CLARION = [sys.executable, "-m", "clarion.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    return env | {"CLARION_VAR_DIR": str(tmp_path / "var")} | extra


def test_keys_create_prints_a_working_key(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path)
    migrated = subprocess.run(
        [*CLARION, "migrate", "--database", database_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    created = subprocess.run(
        [
            *CLARION,
            "keys",
            "create",
            "--project",
            "acme",
            "--scope",
            "send,registry",
            "--database",
            database_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("clk_")
    bad = subprocess.run(
        [
            *CLARION,
            "keys",
            "create",
            "--project",
            "acme",
            "--scope",
            "root",
            "--database",
            database_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "scope" in bad.stderr

    port = _free_port()
    server = subprocess.Popen(
        [*CLARION, "serve", "--port", str(port)],
        # The key of the other tests: readiness checks every secret stored in the shared database.
        env=env | {"CLARION_DATABASE_URL": database_url, "CLARION_SECRET_KEY": "test-secret"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        ready = httpx.get(base + "/readyz").json()
        assert ready["database"] == (
            "sqlite" if database_url.startswith("sqlite") else "postgresql"
        )
        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.put(base + "/v1/contacts/ann", json={"language": "en"}, headers=headers)
        assert response.status_code == 201, response.text
        assert (
            httpx.post(
                base + "/v1/apps", json={"id": "x", "name": "x"}, headers=headers
            ).status_code
            == 403
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_serve_demo_prints_url_and_key_on_embedded_sqlite(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [*CLARION, "serve", "--demo", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        key = ""
        deadline = time.monotonic() + 60
        assert server.stdout is not None
        while time.monotonic() < deadline and not key:
            line = server.stdout.readline()
            if "API key:" in line:
                key = line.split("API key:")[1].split()[0]
        assert key.startswith("clk_")
        # The demo runs on the same loop as every other Clarion process.
        assert "event loop: uvloop" in server.stdout.readline()
        _wait_ready(base, server)
        headers = {"Authorization": f"Bearer {key}"}
        apps = httpx.get(base + "/v1/apps", headers=headers).json()
        assert [a["id"] for a in apps["data"]] == ["demo-app"]
        assert (tmp_path / "var" / "clarion.db").exists()
        body = {
            "recipients": {"external_ids": ["demo-user"]},
            "content": {"title": "Hi", "body": "Demo"},
        }
        send_id = httpx.post(base + "/v1/sends", json=body, headers=headers).json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            send = httpx.get(f"{base}/v1/sends/{send_id}", headers=headers).json()
            if send["status"] == "done":
                break
            time.sleep(0.1)
        # The demo app is wired to the emulators: all three demo devices really receive it.
        assert send["counts"]["sent"] == 3, send
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    from clarion.api.app import create_app
    from clarion.config import Settings

    async def check() -> None:
        dead_port = _free_port()
        settings = Settings(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{dead_port}/x", var_dir=tmp_path
        )
        app = create_app(settings, migrate=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/readyz")
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "NOT_READY"
                assert (await http.get("/healthz")).status_code == 200

    import asyncio

    asyncio.run(check())


def _wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"server exited: {output}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("server did not become ready")
