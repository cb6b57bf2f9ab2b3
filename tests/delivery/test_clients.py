"""Provider clients follow the stored credentials: endpoint choice and credential changes."""

from __future__ import annotations

import httpx

from clarion.config import Settings
from clarion.delivery.clients import ProviderClients
from clarion.providers.apns import ApnsClient
from clarion.store import apps as app_store
from clarion.store.engine import create_engine
from clarion.store.secrets import SecretBox
from tests.conftest import Project
from tests.keys_for_tests import p8_key


async def test_apns_environment_follows_the_device_or_the_send(
    client: httpx.AsyncClient, project: Project, settings: Settings
) -> None:
    app_id = f"{project.id}-ios"
    await client.post("/v1/apps", json={"id": app_id, "name": "iOS"}, headers=project.headers)
    credentials = {
        "team_id": "ABCDE12345",
        "key_id": "KEY1234567",
        "private_key": p8_key(),
        "topic": "com.example.app",
    }
    response = await client.put(
        f"/v1/apps/{app_id}/providers/apns", json=credentials, headers=project.headers
    )
    assert response.status_code == 200, response.text
    engine = create_engine(settings.effective_database_url)
    clients = ProviderClients(engine, SecretBox(settings.secret_key), None)
    try:
        async with engine.connect() as conn:
            app = await app_store.get_app(conn, app_id)
        assert app is not None
        production, _ = await clients.get(app["pk"], "apns", sandbox=False)
        sandbox, _ = await clients.get(app["pk"], "apns", sandbox=True)
        assert isinstance(production, ApnsClient) and isinstance(sandbox, ApnsClient)
        assert production.pool.host == "api.push.apple.com"
        assert sandbox.pool.host == "api.sandbox.push.apple.com"
    finally:
        await clients.close()
        await engine.dispose()
