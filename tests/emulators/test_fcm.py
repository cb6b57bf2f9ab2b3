"""FCM emulator: OAuth2 JWT bearer flow by hand (pyjwt + aiohttp), then messages:send."""

from __future__ import annotations

import time
from typing import Any

import pytest

from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import (
    DEVICE,
    PROJECT,
    assertion,
    fcm_send,
    fetch_token,
    https_client,
)


async def test_service_account_json_points_at_the_emulator(emulators: EmulatorSuite) -> None:
    account = emulators.fcm.create_service_account(PROJECT)
    assert account["type"] == "service_account"
    assert account["project_id"] == PROJECT
    assert account["token_uri"] == f"{emulators.fcm.url}/token"
    assert account["client_email"].endswith(f"@{PROJECT}.iam.gserviceaccount.com")
    assert account["private_key"].startswith("-----BEGIN PRIVATE KEY-----")


async def test_full_flow_delivers_and_records(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    message = {
        "token": DEVICE,
        "notification": {"title": "Hello", "body": "World"},
        "data": {"k": "v"},
        "android": {"priority": "HIGH", "ttl": "3.5s", "collapse_key": "c"},
        "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"badge": 1}}},
        "webpush": {"headers": {"TTL": "60"}, "fcmOptions": {"link": "https://example.com"}},
    }
    async with https_client(emulators) as http:
        status, body, _ = await fcm_send(http, emulators, fcm_access_token, {"message": message})
    assert status == 200
    assert body["name"].startswith(f"projects/{PROJECT}/messages/")
    [delivery] = emulators.fcm.deliveries
    assert delivery.id == body["name"]
    assert delivery.target == DEVICE
    assert delivery.payload == message
    assert delivery.meta == {"project": PROJECT, "target_kind": "token"}


async def test_validate_only_records_nothing(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    async with https_client(emulators) as http:
        status, body, _ = await fcm_send(
            http, emulators, fcm_access_token, {"validate_only": True, "message": {"topic": "news"}}
        )
    assert status == 200
    assert body["name"] == f"projects/{PROJECT}/messages/fake_message_id"
    assert emulators.fcm.deliveries == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"aud": "https://elsewhere.example/token"}, "invalid_grant"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "invalid_grant"),
        ({"exp": int(time.time()) + 7200}, "invalid_grant"),
        ({"scope": "https://www.googleapis.com/auth/userinfo.email"}, "invalid_scope"),
        ({"iss": "nobody@demo-project.iam.gserviceaccount.com"}, "invalid_grant"),
    ],
)
async def test_token_endpoint_checks_claims(
    emulators: EmulatorSuite, overrides: dict[str, Any], error: str
) -> None:
    account = emulators.fcm.create_service_account(PROJECT)
    async with https_client(emulators) as http:
        status, body = await fetch_token(http, account, assertion(account, **overrides))
    assert (status, body["error"]) == (400, error)


async def test_token_endpoint_checks_signature_and_grant(emulators: EmulatorSuite) -> None:
    account = emulators.fcm.create_service_account(PROJECT)
    impostor = emulators.fcm.create_service_account(PROJECT)
    forged = assertion({**impostor, "client_email": account["client_email"]})
    async with https_client(emulators) as http:
        status, body = await fetch_token(http, account, forged)
        assert (status, body) == (
            400,
            {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
        )
        form = {"grant_type": "client_credentials", "assertion": assertion(account)}
        async with http.post(account["token_uri"], data=form) as reply:
            assert reply.status == 400
            assert (await reply.json())["error"] == "unsupported_grant_type"
        async with http.post(
            account["token_uri"], data={"grant_type": form["grant_type"]}
        ) as reply:
            assert reply.status == 400


async def test_send_needs_a_live_access_token(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    async with https_client(emulators) as http:
        status, body, _ = await fcm_send(
            http, emulators, "ya29.made-up", {"message": {"topic": "a"}}
        )
        assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED")
        emulators.fcm.credentials.revoke_access_tokens()
        status, _, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"topic": "a"}}
        )
        assert status == 401


async def test_send_to_another_project_is_denied(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    async with https_client(emulators) as http:
        status, body, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"topic": "a"}}, project="other"
        )
    assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED")


BIG = "x" * 4100


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"notification": {"title": "no target"}}, "message"),
        ({"token": DEVICE, "topic": "news"}, "message"),
        ({"token": DEVICE, "data": {"n": 1}}, "message.data[n]"),
        ({"token": DEVICE, "android": {"ttl": "10"}}, "message.android.ttl"),
        ({"token": DEVICE, "android": {"ttl": "3000000s"}}, "message.android.ttl"),
        ({"token": DEVICE, "android": {"priority": "URGENT"}}, "message.android.priority"),
        ({"token": DEVICE, "apns": {"payload": "nope"}}, "message.apns.payload"),
        ({"token": DEVICE, "webpush": {"headers": {"TTL": 60}}}, "message.webpush.headers[TTL]"),
        ({"token": DEVICE, "colour": "red"}, "message.colour"),
        ({"token": "bad token with spaces"}, "message.token"),
        ({"topic": "bad/topic"}, "message.topic"),
        ({"condition": "topics"}, "message.condition"),
        ({"condition": "'a' in topics &&"}, "message.condition"),
        ({"condition": "('a' in topics"}, "message.condition"),
        ({"condition": " || ".join(f"'t{n}' in topics" for n in range(6))}, "message.condition"),
        ({"token": DEVICE, "data": {"big": BIG}}, "message"),
        (
            {"token": DEVICE, "fcm_options": {"analytics_label": "has space"}},
            "message.fcm_options.analytics_label",
        ),
    ],
)
async def test_invalid_messages(
    emulators: EmulatorSuite, fcm_access_token: str, message: dict[str, Any], field: str
) -> None:
    async with https_client(emulators) as http:
        status, body, _ = await fcm_send(http, emulators, fcm_access_token, {"message": message})
    assert status == 400
    error = body["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": "INVALID_ARGUMENT",
    }
    assert error["details"][1]["fieldViolations"][0]["field"] == field
    assert emulators.fcm.deliveries == []


async def test_payload_just_under_the_limit_passes(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    filler = "y" * (4096 - len('{"data":{"f":""}}'))
    async with https_client(emulators) as http:
        status, _, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"token": DEVICE, "data": {"f": filler}}}
        )
    assert status == 200


async def test_malformed_bodies(emulators: EmulatorSuite, fcm_access_token: str) -> None:
    url = f"{emulators.fcm.url}/v1/projects/{PROJECT}/messages:send"
    headers = {"Authorization": f"Bearer {fcm_access_token}", "Content-Type": "application/json"}
    async with https_client(emulators) as http:
        for raw in (b"{not json", b"[]", b'{"message": {"token": "a"}, "extra": 1}', b"{}"):
            async with http.post(url, data=raw, headers=headers) as reply:
                assert reply.status == 400
                assert (await reply.json())["error"]["status"] == "INVALID_ARGUMENT"


async def test_condition_sends(emulators: EmulatorSuite, fcm_access_token: str) -> None:
    condition = "'dogs' in topics && ('cats' in topics || \"news\" in topics)"
    async with https_client(emulators) as http:
        status, _, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"condition": condition}}
        )
    assert status == 200
    assert emulators.fcm.deliveries[0].meta["target_kind"] == "condition"
