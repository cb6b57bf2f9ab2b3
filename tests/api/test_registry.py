"""Apps, provider credentials, contacts and installations through the native API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from clarion.config import Settings
from clarion.store.engine import create_engine
from clarion.store.tables import provider_credentials
from tests.conftest import Project, error_of
from tests.keys_for_tests import APNS_TOKEN, browser_subscription, p8_key, service_account


async def _app(client: httpx.AsyncClient, project: Project, suffix: str = "app") -> str:
    app_id = f"{project.id}-{suffix}"
    response = await client.post(
        "/v1/apps", json={"id": app_id, "name": "Demo"}, headers=project.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["public_key"].startswith("pk_")
    return app_id


async def test_app_lifecycle(client: httpx.AsyncClient, project: Project) -> None:
    app_id = await _app(client, project)
    duplicate = await client.post(
        "/v1/apps", json={"id": app_id, "name": "x"}, headers=project.headers
    )
    assert duplicate.status_code == 409
    bad = await client.post(
        "/v1/apps", json={"id": "Bad Id!", "name": "x"}, headers=project.headers
    )
    assert bad.status_code == 400 and error_of(bad)["field"] == "id"
    assert (await client.delete(f"/v1/apps/{app_id}", headers=project.headers)).status_code == 204
    assert (await client.get(f"/v1/apps/{app_id}", headers=project.headers)).status_code == 404


async def test_provider_secrets_are_encrypted_and_never_returned(
    client: httpx.AsyncClient, project: Project, settings: Settings
) -> None:
    app_id = await _app(client, project)
    key = p8_key()
    apns = {
        "team_id": "ABCDE12345",
        "key_id": "KEY1234567",
        "private_key": key,
        "topic": "com.example.app",
        "environment": "sandbox",
    }
    response = await client.put(
        f"/v1/apps/{app_id}/providers/apns", json=apns, headers=project.headers
    )
    assert response.status_code == 200, response.text
    account = service_account()
    response = await client.put(
        f"/v1/apps/{app_id}/providers/fcm",
        json={"service_account": json.dumps(account)},
        headers=project.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["project_id"] == "demo-project"
    response = await client.put(
        f"/v1/apps/{app_id}/providers/webpush",
        json={"subject": "mailto:ops@example.com"},
        headers=project.headers,
    )
    assert response.status_code == 200, response.text
    public_key = response.json()["public_key"]
    assert len(public_key) == 87  # 65-byte uncompressed point, base64url without padding

    everything = ""
    for path in ("providers", "providers/apns", "providers/fcm", "providers/webpush", ""):
        got = await client.get(f"/v1/apps/{app_id}/{path}".rstrip("/"), headers=project.headers)
        assert got.status_code == 200
        everything += got.text
    assert "PRIVATE KEY" not in everything and "private_key" not in everything
    assert public_key in everything
    assert json.loads((await client.get(f"/v1/apps/{app_id}", headers=project.headers)).text)[
        "providers"
    ] == ["apns", "fcm", "webpush"]

    engine = create_engine(settings.effective_database_url)
    async with engine.connect() as conn:
        blobs = [
            row.secret_blob
            for row in await conn.execute(select(provider_credentials.c.secret_blob))
        ]
    await engine.dispose()
    assert blobs and all(b"PRIVATE KEY" not in bytes(blob) for blob in blobs)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "team_id": "ABCDE12345",
                "key_id": "KEY1234567",
                "private_key": "not a key",
                "topic": "t",
            },
            "private_key",
        ),
        ({"team_id": "short", "key_id": "KEY1234567", "private_key": "x", "topic": "t"}, "team_id"),
        ({"key_id": "KEY1234567", "private_key": None, "topic": "t"}, "team_id"),
        (
            {
                "team_id": "ABCDE12345",
                "key_id": "KEY1234567",
                "topic": "t",
                "endpoint": "http://plain",
            },
            "endpoint",
        ),
        (
            {"team_id": "ABCDE12345", "key_id": "KEY1234567", "topic": "t", "environment": "dev"},
            "environment",
        ),
    ],
)
async def test_bad_apns_credentials_name_the_field(
    client: httpx.AsyncClient, project: Project, body: dict[str, object], field: str
) -> None:
    app_id = await _app(client, project)
    response = await client.put(
        f"/v1/apps/{app_id}/providers/apns", json=body, headers=project.headers
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field


async def test_bad_fcm_and_webpush_credentials(client: httpx.AsyncClient, project: Project) -> None:
    app_id = await _app(client, project)
    account = service_account()
    del account["client_email"]
    response = await client.put(
        f"/v1/apps/{app_id}/providers/fcm",
        json={"service_account": account},
        headers=project.headers,
    )
    assert response.status_code == 400 and error_of(response)["field"] == "service_account"
    assert "client_email" in error_of(response)["message"]
    response = await client.put(
        f"/v1/apps/{app_id}/providers/webpush", json={"subject": "ops"}, headers=project.headers
    )
    assert response.status_code == 400 and error_of(response)["field"] == "subject"
    assert (
        await client.get(f"/v1/apps/{app_id}/providers/fcm", headers=project.headers)
    ).status_code == 404


async def test_installation_upsert_and_contact_link(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await _app(client, project)
    url = f"/v1/apps/{app_id}/installations/device-1"
    body = {
        "platform": "ios",
        "token": APNS_TOKEN,
        "external_id": "user-42",
        "language": "pt-br",
        "timezone": "America/Sao_Paulo",
        "tags": ["vip"],
        "attributes": {"plan": "gold"},
        "advertising_id": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
        "sandbox": True,
    }
    created = await client.put(url, json=body, headers=project.headers)
    assert created.status_code == 201, created.text
    got = created.json()
    assert got["language"] == "pt-BR" and got["external_id"] == "user-42" and got["sandbox"] is True
    assert got["advertising_id"] == "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    replaced = await client.put(
        url, json={"platform": "ios", "token": "b" * 64}, headers=project.headers
    )
    assert replaced.status_code == 200
    assert (
        replaced.json()["token"] == "b" * 64
        and replaced.json()["tags"] == []
        and replaced.json()["external_id"] is None
    )
    contact = await client.get("/v1/contacts/user-42", headers=project.headers)
    assert contact.status_code == 200
    await client.put(url, json=body, headers=project.headers)
    listed = await client.get(
        f"/v1/apps/{app_id}/installations?external_id=user-42", headers=project.headers
    )
    assert [i["installation_id"] for i in listed.json()["data"]] == ["device-1"]
    assert (await client.delete(url, headers=project.headers)).status_code == 204
    assert (await client.get(url, headers=project.headers)).status_code == 404
    assert (await client.delete(url, headers=project.headers)).status_code == 404


async def test_web_installation_needs_a_valid_subscription(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await _app(client, project)
    url = f"/v1/apps/{app_id}/installations/browser-1"
    ok = await client.put(
        url,
        json={"platform": "web", "subscription": browser_subscription()},
        headers=project.headers,
    )
    assert ok.status_code == 201, ok.text
    missing = await client.put(url, json={"platform": "web"}, headers=project.headers)
    assert missing.status_code == 400 and error_of(missing) == {
        **error_of(missing),
        "code": "MISSING_PARAMETER",
        "field": "subscription",
    }
    broken = browser_subscription()
    broken["keys"]["auth"] = "AAAA"
    response = await client.put(
        url, json={"platform": "web", "subscription": broken}, headers=project.headers
    )
    assert response.status_code == 400 and error_of(response)["field"] == "subscription.keys.auth"
    insecure = browser_subscription("http://push.example.test/x")
    response = await client.put(
        url, json={"platform": "web", "subscription": insecure}, headers=project.headers
    )
    assert response.status_code == 400 and error_of(response)["field"] == "subscription.endpoint"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"platform": "ios", "token": "xyz"}, "MALFORMED_PARAMETER", "token"),
        ({"platform": "ios", "token": "a" * 63}, "MALFORMED_PARAMETER", "token"),
        ({"platform": "android"}, "MISSING_PARAMETER", "token"),
        ({"platform": "blackberry", "token": "t"}, "MALFORMED_PARAMETER", "platform"),
        ({"token": "t"}, "MISSING_PARAMETER", "platform"),
        (
            {"platform": "android", "token": "t", "timezone": "Mars/Olympus"},
            "MALFORMED_PARAMETER",
            "timezone",
        ),
        (
            {"platform": "android", "token": "t", "language": "not a language"},
            "MALFORMED_PARAMETER",
            "language",
        ),
        (
            {"platform": "android", "token": "t", "tags": ["ok", ""]},
            "MALFORMED_PARAMETER",
            "tags[1]",
        ),
        (
            {"platform": "android", "token": "t", "advertising_id": "nope"},
            "MALFORMED_PARAMETER",
            "advertising_id",
        ),
        ({"platform": "android", "token": "t", "colour": "red"}, "MALFORMED_PARAMETER", "colour"),
    ],
)
async def test_bad_installations_name_the_field(
    client: httpx.AsyncClient, project: Project, body: dict[str, object], code: str, field: str
) -> None:
    app_id = await _app(client, project)
    response = await client.put(
        f"/v1/apps/{app_id}/installations/d", json=body, headers=project.headers
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == code
    assert error_of(response)["field"] == field


async def test_contacts_crud_and_validation(client: httpx.AsyncClient, project: Project) -> None:
    body = {
        "email": "Ann@Example.COM",
        "phone": "+33 6 12 34 56 78",
        "language": "fr",
        "timezone": "Europe/Paris",
        "attributes": {"tier": 2},
    }
    created = await client.put("/v1/contacts/ann", json=body, headers=project.headers)
    assert created.status_code == 201, created.text
    assert (
        created.json()["phone"] == "+33612345678" and created.json()["email"] == "Ann@example.com"
    )
    updated = await client.put("/v1/contacts/ann", json={"language": "de"}, headers=project.headers)
    assert updated.status_code == 200
    assert updated.json()["language"] == "de" and updated.json()["phone"] == "+33612345678"
    for field, value in (("phone", "0612345678"), ("email", "nope"), ("timezone", "Paris")):
        response = await client.put(
            "/v1/contacts/ann", json={field: value}, headers=project.headers
        )
        assert response.status_code == 400 and error_of(response)["field"] == field
    assert (await client.delete("/v1/contacts/ann", headers=project.headers)).status_code == 204
    assert (await client.get("/v1/contacts/ann", headers=project.headers)).status_code == 404


async def test_cursor_pagination_walks_every_item_once(
    client: httpx.AsyncClient, project: Project
) -> None:
    for index in range(7):
        await client.put(f"/v1/contacts/c{index}", json={}, headers=project.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/contacts", params=params, headers=project.headers)).json()
        seen += [c["external_id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{i}" for i in range(7)]
    bad = await client.get("/v1/contacts", params={"cursor": "!!!"}, headers=project.headers)
    assert bad.status_code == 400 and error_of(bad)["field"] == "cursor"


def test_secret_key_file_is_made_once(tmp_path: Path) -> None:
    from clarion.store.secrets import load_or_create_secret

    first = load_or_create_secret("", tmp_path)
    assert first == load_or_create_secret("", tmp_path)
    assert load_or_create_secret("given", tmp_path) == "given"
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
