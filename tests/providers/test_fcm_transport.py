"""FCM client against a local OAuth2 + v1 send server over TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clarion.providers.fcm import FcmClient
from clarion.providers.fcm_auth import FCM_SCOPE, JWT_BEARER_GRANT
from clarion.providers.result import Outcome
from clarion.providers.tls import client_ssl_context
from tests.local_outbound import LOCAL_OUTBOUND
from tests.providers.http_server import serve
from tests.providers.tls_material import TlsMaterial

PROJECT = "demo-project"
MESSAGE = {"token": "device-token-1", "notification": {"title": "Hi"}}


@dataclass
class FakeGoogle:
    """Token endpoint and send endpoint with scripted answers."""

    public_key: rsa.RSAPublicKey
    token_uri: str = ""
    tokens_issued: list[str] = field(default_factory=list)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    send_answers: list[tuple[int, dict[str, str], dict[str, Any] | None]] = field(
        default_factory=list
    )
    token_status: int = 200

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert form["grant_type"] == JWT_BEARER_GRANT
        claims = jwt.decode(
            str(form["assertion"]), self.public_key, algorithms=["RS256"], audience=self.token_uri
        )
        self.assertions.append(claims)
        if self.token_status != 200:
            return web.json_response({"error": "invalid_grant"}, status=self.token_status)
        token = f"access-{len(self.tokens_issued)}"
        self.tokens_issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.Response:
        assert request.match_info["project"] == PROJECT
        self.sends.append((request.headers["Authorization"], await request.json()))
        if self.send_answers:
            status, headers, body = self.send_answers.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"name": f"projects/{PROJECT}/messages/{len(self.sends)}"})


def fcm_error(code: int, status: str, error_code: str | None, **extra: Any) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if error_code:
        details.append(
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        )
    if "fields" in extra:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": f, "description": "bad"} for f in extra["fields"]],
            }
        )
    message = extra.get("message", "error")
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Setup:
    google: FakeGoogle
    client: FcmClient


@pytest.fixture
async def setup(tls: TlsMaterial, rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[Setup]:
    google = FakeGoogle(rsa_key.public_key())
    app = web.Application()
    app.router.add_post("/token", google.token)
    app.router.add_post("/v1/projects/{project}/messages:send", google.send)
    async with serve(app, tls.server_context(["http/1.1"])) as url:
        google.token_uri = f"{url}/token"
        account = {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "kid-1",
            "private_key": rsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": "sender@demo-project.iam.gserviceaccount.com",
            "token_uri": google.token_uri,
        }
        client = FcmClient(
            account, url, ssl_context=client_ssl_context(tls.ca_file), outbound=LOCAL_OUTBOUND
        )
        try:
            yield Setup(google, client)
        finally:
            await client.close()


async def test_sends_message_with_oauth_token(setup: Setup) -> None:
    result = await setup.client.send(MESSAGE)
    assert result.outcome is Outcome.SENT
    assert result.provider_message_id == f"projects/{PROJECT}/messages/1"
    authorization, body = setup.google.sends[0]
    assert authorization == "Bearer access-0"
    assert body == {"message": MESSAGE}
    claims = setup.google.assertions[0]
    assert claims["iss"] == "sender@demo-project.iam.gserviceaccount.com"
    assert claims["scope"] == FCM_SCOPE
    assert claims["exp"] - claims["iat"] == 3600


async def test_access_token_is_cached(setup: Setup) -> None:
    for _ in range(3):
        assert (await setup.client.send(MESSAGE)).sent
    assert setup.google.tokens_issued == ["access-0"]


async def test_refreshes_once_on_401(setup: Setup) -> None:
    setup.google.send_answers.append((401, {}, fcm_error(401, "UNAUTHENTICATED", None)))
    result = await setup.client.send(MESSAGE)
    assert result.sent
    assert [auth for auth, _ in setup.google.sends] == ["Bearer access-0", "Bearer access-1"]


async def test_gives_up_after_second_401(setup: Setup) -> None:
    for _ in range(2):
        setup.google.send_answers.append((401, {}, fcm_error(401, "UNAUTHENTICATED", None)))
    result = await setup.client.send(MESSAGE)
    assert (result.outcome, result.status) == (Outcome.FAILED, 401)
    assert len(setup.google.sends) == 2


async def test_third_party_auth_error_is_not_a_token_problem(setup: Setup) -> None:
    setup.google.send_answers.append(
        (401, {}, fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"))
    )
    result = await setup.client.send(MESSAGE)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "THIRD_PARTY_AUTH_ERROR")
    assert len(setup.google.sends) == 1


async def test_token_endpoint_refusal_fails(setup: Setup) -> None:
    setup.google.token_status = 400
    result = await setup.client.send(MESSAGE)
    assert result.outcome is Outcome.FAILED
    assert "invalid_grant" in (result.reason or "")
    assert setup.google.sends == []


async def test_token_endpoint_outage_retries(setup: Setup) -> None:
    setup.google.token_status = 503
    result = await setup.client.send(MESSAGE)
    assert result.outcome is Outcome.RETRY


@pytest.mark.parametrize(
    ("status", "body", "outcome", "reason"),
    [
        (404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), Outcome.INVALID_TOKEN, "UNREGISTERED"),
        (
            400,
            fcm_error(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                message="The registration token is not a valid FCM registration token",
            ),
            Outcome.INVALID_TOKEN,
            "INVALID_ARGUMENT",
        ),
        (
            400,
            fcm_error(400, "INVALID_ARGUMENT", None, fields=["message.token"]),
            Outcome.INVALID_TOKEN,
            "INVALID_ARGUMENT",
        ),
        (
            400,
            fcm_error(
                400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", fields=["message.data[0].value"]
            ),
            Outcome.FAILED,
            "INVALID_ARGUMENT",
        ),
        (
            403,
            fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
            Outcome.FAILED,
            "SENDER_ID_MISMATCH",
        ),
        (500, fcm_error(500, "INTERNAL", "INTERNAL"), Outcome.RETRY, "INTERNAL"),
        (503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), Outcome.RETRY, "UNAVAILABLE"),
    ],
)
async def test_maps_fcm_errors(
    setup: Setup, status: int, body: dict[str, Any], outcome: Outcome, reason: str
) -> None:
    setup.google.send_answers.append((status, {}, body))
    result = await setup.client.send(MESSAGE)
    assert (result.outcome, result.status, result.reason) == (outcome, status, reason)


async def test_quota_exceeded_carries_retry_after(setup: Setup) -> None:
    setup.google.send_answers.append(
        (429, {"Retry-After": "42"}, fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"))
    )
    result = await setup.client.send(MESSAGE)
    assert (result.outcome, result.reason, result.retry_after) == (
        Outcome.RETRY,
        "QUOTA_EXCEEDED",
        42.0,
    )


async def test_unreachable_endpoint_retries(tls: TlsMaterial, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = {
        "project_id": PROJECT,
        "private_key": pem,
        "client_email": "x@y",
        "token_uri": "https://127.0.0.1:9/token",
    }
    client = FcmClient(
        account,
        "https://127.0.0.1:9",
        ssl_context=client_ssl_context(tls.ca_file),
        outbound=LOCAL_OUTBOUND,
    )
    try:
        result = await client.send(MESSAGE)
    finally:
        await client.close()
    assert result.outcome is Outcome.RETRY


def test_service_account_must_be_complete() -> None:
    with pytest.raises(ValueError, match="client_email"):
        FcmClient({"project_id": "p", "private_key": "k"})
