"""`clarion emulate` and `clarion serve` as separate processes, started as the README says."""

from __future__ import annotations

import secrets
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import ClarionProcess, clean_environment, free_port

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "com.example.processes"
EMULATOR_NAMES = ("apns", "apns_control", "fcm", "webpush", "sms")
# Long enough for a retried job's backoff to bring a duplicate in before we count.
LATE_DUPLICATE_WAIT = 1.5


@dataclass
class Emulators:
    """URLs and CA of a running `clarion emulate`."""

    urls: dict[str, str]
    ca_file: Path

    def client(self) -> httpx.Client:
        """An HTTP client trusting the emulators' CA."""
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca_file)), timeout=10)


@dataclass
class Server:
    """A running `clarion serve`."""

    process: ClarionProcess
    url: str
    admin_key: str


def _printed_urls(output: str) -> dict[str, str]:
    urls = {}
    for line in output.splitlines():
        name, _, url = line.partition(" ")
        if name in EMULATOR_NAMES and url.strip().startswith("http"):
            urls[name] = url.strip()
    return urls


@pytest.fixture
def emulators(tmp_path: Path, request: pytest.FixtureRequest) -> Emulators:
    """`clarion emulate` on ports it picks itself, read from what it prints."""
    state_dir = tmp_path / "emulators"
    process = ClarionProcess(
        ["emulate", "--state-dir", str(state_dir)],
        clean_environment(),
        tmp_path / "emulate.log",
        tmp_path,
    )
    request.addfinalizer(process.stop)
    process.wait_for(
        lambda: set(_printed_urls(process.output())) == set(EMULATOR_NAMES), "clarion emulate"
    )
    ca_line = next(
        line for line in process.output().splitlines() if line.startswith("CA certificate:")
    )
    ca_file = Path(ca_line.split(":", 1)[1].strip())
    return Emulators(_printed_urls(process.output()), ca_file)


@pytest.fixture
def server(
    emulators: Emulators, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """`clarion serve` configured through the environment variables the README lists."""
    port = free_port()
    admin_key = secrets.token_urlsafe(32)
    env = clean_environment(
        CLARION_DATABASE_URL=database_url,
        CLARION_ADMIN_KEY=admin_key,
        # The PostgreSQL database is shared with other tests, whose stored secrets
        # /readyz checks: every test seals them under the same key.
        CLARION_SECRET_KEY="test-secret",
        CLARION_VAR_DIR=str(tmp_path / "var"),
        CLARION_EXTRA_CA_FILE=str(emulators.ca_file),
        CLARION_SMS_URL=emulators.urls["sms"],
        CLARION_OUTBOUND_ALLOWLIST="127.0.0.0/8,::1",
    )
    process = ClarionProcess(
        ["serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "serve.log", tmp_path
    )
    request.addfinalizer(process.stop)
    url = f"http://127.0.0.1:{port}"
    process.wait_http_ok(url + "/readyz")
    yield Server(process, url, admin_key)


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def _configure(api: httpx.Client, server: Server, emulators: Emulators) -> tuple[str, str]:
    """A project, an admin key and an app whose three providers point at the emulators."""
    project_id = f"p-{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    _created(api.post("/v1/projects", json={"id": project_id, "name": "Processes"}, headers=admin))
    key = _created(
        api.post(
            "/v1/keys", json={"scopes": ["admin"]}, headers=admin | {"Clarion-Project": project_id}
        )
    )["key"]
    headers = {"Authorization": f"Bearer {key}"}
    app_id = f"{project_id}-app"
    _created(api.post("/v1/apps", json={"id": app_id, "name": "Processes"}, headers=headers))
    with emulators.client() as control:
        p8 = _created(
            control.post(
                emulators.urls["apns_control"] + "/_emulator/keys",
                json={"team_id": TEAM_ID, "key_id": KEY_ID, "topics": [TOPIC]},
            )
        )["private_key"]
        account = _created(
            control.post(
                emulators.urls["fcm"] + "/_emulator/service-accounts",
                json={"project_id": f"{project_id}-fcm"},
            )
        )
    providers = {
        "apns": {
            "team_id": TEAM_ID,
            "key_id": KEY_ID,
            "private_key": p8,
            "topic": TOPIC,
            "endpoint": emulators.urls["apns"],
        },
        "fcm": {"service_account": account, "endpoint": emulators.urls["fcm"]},
        "webpush": {"subject": "mailto:ops@example.com"},
    }
    for provider, body in providers.items():
        _created(api.put(f"/v1/apps/{app_id}/providers/{provider}", json=body, headers=headers))
    return app_id, key


def _wait_final(api: httpx.Client, send_id: str, headers: dict[str, str], server: Server) -> Any:
    deadline = time.monotonic() + 10
    while True:
        send = _created(api.get(f"/v1/sends/{send_id}", headers=headers))
        if send["status"] in ("done", "cancelled"):
            return send
        if time.monotonic() > deadline:
            raise AssertionError(f"send still {send}\n{server.process.output()[-4000:]}")
        time.sleep(0.1)


def test_one_send_reaches_an_ios_an_android_and_a_web_device_exactly_once(
    server: Server, emulators: Emulators
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as api, emulators.client() as control:
        app_id, key = _configure(api, server, emulators)
        headers = {"Authorization": f"Bearer {key}"}
        subscription = _created(
            control.post(emulators.urls["webpush"] + "/_emulator/subscriptions")
        )
        devices: dict[str, dict[str, Any]] = {
            "iphone": {"platform": "ios", "token": secrets.token_hex(32)},
            "pixel": {"platform": "android", "token": "fcm-" + secrets.token_hex(16)},
            "browser": {"platform": "web", "subscription": subscription},
        }
        for installation_id, device in devices.items():
            _created(
                api.put(
                    f"/v1/apps/{app_id}/installations/{installation_id}",
                    json=device | {"external_id": "ann"},
                    headers=headers,
                )
            )

        body = {
            "recipients": {"external_ids": ["ann"]},
            "content": {"title": "Hello", "body": "From another process"},
        }
        send_id = _created(api.post("/v1/sends", json=body, headers=headers))["id"]
        send = _wait_final(api, send_id, headers, server)
        assert send["status"] == "done", send
        assert send["counts"]["targeted"] == 3, send
        assert send["counts"]["sent"] == 3, send

        time.sleep(LATE_DUPLICATE_WAIT)
        for name in ("apns_control", "fcm", "webpush"):
            received = _created(control.get(emulators.urls[name] + "/_emulator/deliveries"))
            assert received["total"] == 1, (name, received)
            assert len(received["deliveries"]) == 1, (name, received)

    # The loop uvicorn would pick by itself is the one every Clarion process now runs on.
    assert "event loop: uvloop" in server.process.output()
