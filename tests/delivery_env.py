"""A Clarion server wired to the local emulators: the harness of end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.emulators.suite import EmulatorSuite
from tests.conftest import ADMIN_KEY, admin_headers
from tests.local_outbound import LOCAL_ALLOWLIST

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "com.example.clarion"


@dataclass
class DeliveryEnv:
    """A running Clarion (API + in-process workers), the emulators, and one configured app."""

    http: httpx.AsyncClient
    emulators: EmulatorSuite
    project_id: str
    app_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers of the project's admin key."""
        return {"Authorization": f"Bearer {self.key}"}

    async def ios(self, installation_id: str, **fields: Any) -> str:
        """Register an iOS installation with a fresh token; return the token."""
        token = uuid.uuid4().hex + uuid.uuid4().hex
        await self.register(installation_id, {"platform": "ios", "token": token, **fields})
        return token

    async def android(self, installation_id: str, **fields: Any) -> str:
        """Register an Android installation with a fresh token; return the token."""
        token = "fcm-" + uuid.uuid4().hex
        await self.register(installation_id, {"platform": "android", "token": token, **fields})
        return token

    async def web(self, installation_id: str, **fields: Any) -> str:
        """Register a browser subscribed at the Web Push emulator; return its endpoint."""
        subscription = self.emulators.webpush.create_subscription()
        await self.register(
            installation_id, {"platform": "web", "subscription": subscription, **fields}
        )
        return str(subscription["endpoint"])

    async def register(self, installation_id: str, body: dict[str, Any]) -> None:
        """PUT an installation of the app."""
        url = f"/v1/apps/{self.app_id}/installations/{installation_id}"
        response = await self.http.put(url, json=body, headers=self.headers)
        assert response.status_code in (200, 201), response.text

    async def send(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        """POST a send and return its id."""
        response = await self.http.post(
            "/v1/sends", json=body, headers=self.headers | (headers or {})
        )
        assert response.status_code in (200, 201), response.text
        send_id: str = response.json()["id"]
        return send_id

    async def wait_done(self, send_id: str, seconds: float = 120) -> dict[str, Any]:
        """Poll a send until it is done, failed or cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            response = await self.http.get(f"/v1/sends/{send_id}", headers=self.headers)
            body: dict[str, Any] = response.json()
            if body["status"] in ("done", "failed", "cancelled"):
                return body
            assert loop.time() < deadline, body
            await asyncio.sleep(0.05)

    async def deliveries(self, send_id: str) -> list[dict[str, Any]]:
        """The whole per-device trail of a send."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
            page = (
                await self.http.get(
                    f"/v1/sends/{send_id}/deliveries", params=params, headers=self.headers
                )
            ).json()
            items += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


async def configure_app(http: httpx.AsyncClient, emulators: EmulatorSuite) -> tuple[str, str, str]:
    """Create a project, an app with APNs, FCM and Web Push pointed at the emulators, and a key."""
    project_id = f"p-{uuid.uuid4().hex[:8]}"
    app_id = f"{project_id}-app"
    response = await http.post(
        "/v1/projects", json={"id": project_id, "name": "E2E"}, headers=admin_headers()
    )
    assert response.status_code == 201, response.text
    key = (
        await http.post("/v1/keys", json={"scopes": ["admin"]}, headers=admin_headers(project_id))
    ).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        await http.post("/v1/apps", json={"id": app_id, "name": "E2E"}, headers=headers)
    ).status_code == 201
    p8 = emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])
    apns = {
        "team_id": TEAM_ID,
        "key_id": KEY_ID,
        "private_key": p8,
        "topic": TOPIC,
        "endpoint": emulators.apns.url,
    }
    account = emulators.fcm.create_service_account(f"{project_id}-fcm")
    fcm = {"service_account": account, "endpoint": emulators.fcm.url}
    for provider, body in (
        ("apns", apns),
        ("fcm", fcm),
        ("webpush", {"subject": "mailto:ops@example.com"}),
    ):
        response = await http.put(
            f"/v1/apps/{app_id}/providers/{provider}", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
    return project_id, app_id, key


@asynccontextmanager
async def delivery_env(
    database_url: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[DeliveryEnv]:
    """Start emulators and Clarion (`overrides` are extra Settings), configure an app, yield."""
    async with EmulatorSuite(tmp_path / "emulators") as emulators:
        fields: dict[str, Any] = {
            "database_url": database_url,
            "var_dir": tmp_path / "var",
            "admin_key": ADMIN_KEY,
            "secret_key": "test-secret",
            "extra_ca_file": emulators.ca_file,
            "sms_url": emulators.sms.url,
            "outbound_allowlist": LOCAL_ALLOWLIST,
        }
        settings = Settings(**(fields | overrides))
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://clarion.test", timeout=60
            ) as http:
                project_id, app_id, key = await configure_app(http, emulators)
                yield DeliveryEnv(http, emulators, project_id, app_id, key)
