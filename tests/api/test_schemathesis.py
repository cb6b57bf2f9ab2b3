"""Property-based run of the OpenAPI schema: no input may produce a server error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from clarion.api.app import create_app
from clarion.config import Settings
from tests.conftest import ADMIN_KEY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server on SQLite, with a project to act in."""
    var_dir: Path = tmp_path_factory.mktemp("schemathesis")
    config = Settings(var_dir=var_dir, admin_key=ADMIN_KEY, secret_key="s")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    httpx.post(base + "/v1/projects", json={"id": "fuzz", "name": "Fuzz"}, headers=headers)
    httpx.post(
        base + "/v1/apps",
        json={"id": "fuzz-app", "name": "Fuzz"},
        headers=headers | {"Clarion-Project": "fuzz"},
    )
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def api_schema(live_server: str) -> schemathesis.BaseSchema:
    """The schema the live server publishes."""
    loaded = schemathesis.openapi.from_url(live_server + "/openapi.json")
    loaded.config.update(base_url=live_server)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Clarion-Project": "fuzz"}
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )
