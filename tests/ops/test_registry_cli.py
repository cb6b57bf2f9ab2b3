"""The registry commands over a real server: CLARION_PORT honoured, --json, errors named."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import ClarionProcess, clean_environment, free_port

CLARION = str(Path(sys.executable).parent / "clarion")


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLARION, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_registry_commands_on_a_server_started_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    admin = secrets.token_hex(32)
    env = clean_environment(
        CLARION_PORT=str(port), CLARION_ADMIN_KEY=admin, CLARION_VAR_DIR=str(tmp_path / "var")
    )
    server = ClarionProcess(["serve"], env, tmp_path / "serve.log", tmp_path)
    try:
        # CLARION_PORT alone chooses the port, for the server and for the commands.
        server.wait_http_ok(f"http://127.0.0.1:{port}/readyz", seconds=60)
        created = _run("projects", "create", "shop", "--json", env=env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["id"] == "shop"
        listed = _run("projects", "list", env=env, cwd=tmp_path)
        assert listed.stdout.splitlines()[0].split()[:2] == ["ID", "NAME"]
        assert any(line.startswith("shop ") for line in listed.stdout.splitlines()[1:])

        key = _run("keys", "create", "--project", "shop", "--scope", "admin", env=env, cwd=tmp_path)
        assert key.returncode == 0, key.stderr
        project_env = env | {"CLARION_API_KEY": key.stdout.strip()}
        app = _run(
            "apps", "create", "shop-app", "--field", "public_key", env=project_env, cwd=tmp_path
        )
        assert app.returncode == 0 and app.stdout.startswith("pk_"), app.stderr
        vapid = _run(
            "providers",
            "webpush",
            "shop-app",
            "--subject",
            "mailto:a@example.com",
            "--field",
            "public_key",
            env=project_env,
            cwd=tmp_path,
        )
        assert vapid.returncode == 0 and len(vapid.stdout.strip()) == 87, vapid.stderr

        # The server's refusal reaches the user with its code and field.
        refused = _run(
            "installations",
            "register",
            "shop-app",
            "i1",
            "--platform",
            "ios",
            "--token",
            "x",
            env=project_env,
            cwd=tmp_path,
        )
        assert refused.returncode == 1
        assert "400" in refused.stderr and "MALFORMED_PARAMETER" in refused.stderr
        assert "token" in refused.stderr

        # A project key cannot create projects; the answer says how to get the admin key.
        denied = _run(
            "projects", "create", "other", "--key", key.stdout.strip(), env=env, cwd=tmp_path
        )
        assert denied.returncode == 1
        assert "CLARION_ADMIN_KEY" in denied.stderr and "clarion keys create" in denied.stderr
    finally:
        server.stop()


def test_commands_without_a_key_or_server_say_what_is_missing(tmp_path: Path) -> None:
    env = clean_environment(CLARION_PORT=str(free_port()))
    no_key = _run("apps", "list", env=env, cwd=tmp_path)
    assert no_key.returncode == 2 and "CLARION_API_KEY" in no_key.stderr
    no_server = _run("apps", "list", env=env | {"CLARION_API_KEY": "k"}, cwd=tmp_path)
    assert no_server.returncode == 3 and "cannot reach" in no_server.stderr


@pytest.mark.skipif(not os.path.exists("Makefile"), reason="runs from the repository")
def test_make_run_passes_port_and_host_on() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=9123", "HOST=0.0.0.0"], capture_output=True, text=True
    )
    assert "clarion serve --demo --host 0.0.0.0 --port 9123" in dry.stdout, dry.stdout
    plain = subprocess.run(["make", "-n", "run"], capture_output=True, text=True)
    assert "clarion serve --demo" in plain.stdout and "--port" not in plain.stdout
