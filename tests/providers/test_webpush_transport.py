"""Web Push client against a local push service over TLS that decrypts and checks VAPID."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clarion.providers.b64 import b64url_decode, b64url_encode
from clarion.providers.result import Outcome
from clarion.providers.tls import client_ssl_context
from clarion.providers.webpush import WebPushClient, generate_vapid_keys
from tests.local_outbound import LOCAL_OUTBOUND
from tests.providers.http_server import serve
from tests.providers.tls_material import TlsMaterial


@dataclass
class Received:
    """One push as the service saw it, decrypted."""

    plaintext: bytes
    headers: dict[str, str]
    claims: dict[str, Any]


@dataclass
class FakePushService:
    """Decrypts with the browser key and verifies VAPID like a push service must."""

    browser_key: ec.EllipticCurvePrivateKey
    auth: bytes
    origin: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    async def push(self, request: web.Request) -> web.Response:
        scheme, _, params = request.headers["Authorization"].partition(" ")
        assert scheme == "vapid"
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(fields["k"])
        )
        claims = jwt.decode(fields["t"], server_key, algorithms=["ES256"], audience=self.origin)
        assert request.headers["Content-Encoding"] == "aes128gcm"
        plaintext = http_ece.decrypt(
            await request.read(),
            private_key=self.browser_key,
            auth_secret=self.auth,
            version="aes128gcm",
        )
        self.received.append(Received(plaintext, dict(request.headers), claims))
        if self.answers:
            status, headers = self.answers.pop(0)
            return web.Response(status=status, headers=headers, text="nope")
        return web.Response(status=201, headers={"Location": f"{self.origin}/m/1"})


@dataclass
class Setup:
    service: FakePushService
    client: WebPushClient
    subscription: dict[str, Any]
    vapid_public: str


@pytest.fixture
async def setup(tls: TlsMaterial) -> AsyncIterator[Setup]:
    browser_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    service = FakePushService(browser_key, auth)
    app = web.Application()
    app.router.add_post("/push/{id}", service.push)
    async with serve(app, tls.server_context(["http/1.1"])) as url:
        service.origin = url
        subscription = {
            "endpoint": f"{url}/push/abc",
            "keys": {
                "p256dh": b64url_encode(
                    browser_key.public_key().public_bytes(
                        Encoding.X962, PublicFormat.UncompressedPoint
                    )
                ),
                "auth": b64url_encode(auth),
            },
        }
        private_pem, public_b64 = generate_vapid_keys()
        client = WebPushClient(
            private_pem,
            "mailto:ops@example.com",
            ssl_context=client_ssl_context(tls.ca_file),
            outbound=LOCAL_OUTBOUND,
        )
        try:
            yield Setup(service, client, subscription, public_b64)
        finally:
            await client.close()


async def test_delivers_encrypted_payload_with_vapid(setup: Setup) -> None:
    result = await setup.client.send(
        setup.subscription, b'{"title":"Hi"}', ttl=3600, urgency="high", topic="news"
    )
    assert result.outcome is Outcome.SENT
    assert result.status == 201
    assert result.provider_message_id == f"{setup.service.origin}/m/1"
    received = setup.service.received[0]
    assert received.plaintext == b'{"title":"Hi"}'
    assert received.headers["TTL"] == "3600"
    assert received.headers["Urgency"] == "high"
    assert received.headers["Topic"] == "news"
    assert received.claims["sub"] == "mailto:ops@example.com"
    assert setup.client.public_key == setup.vapid_public


async def test_optional_headers_are_omitted(setup: Setup) -> None:
    assert (await setup.client.send(setup.subscription, b"x", ttl=0)).sent
    headers = setup.service.received[0].headers
    assert "Urgency" not in headers
    assert "Topic" not in headers


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (404, Outcome.INVALID_TOKEN),
        (410, Outcome.INVALID_TOKEN),
        (413, Outcome.FAILED),
        (400, Outcome.FAILED),
        (403, Outcome.FAILED),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
async def test_maps_statuses(setup: Setup, status: int, outcome: Outcome) -> None:
    setup.service.answers.append((status, {"Retry-After": "9"}))
    result = await setup.client.send(setup.subscription, b"x", ttl=60)
    assert (result.outcome, result.status) == (outcome, status)
    assert result.retry_after == (9.0 if outcome is Outcome.RETRY else None)


async def test_oversized_payload_fails_without_request(setup: Setup) -> None:
    result = await setup.client.send(setup.subscription, b"x" * 5000, ttl=60)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "PayloadTooLarge")
    assert setup.service.received == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"urgency": "urgent"}, "urgency"),
        ({"topic": "has space"}, "topic"),
        ({"topic": "x" * 33}, "topic"),
        ({"ttl": -1}, "ttl"),
    ],
)
async def test_rejects_bad_options(setup: Setup, options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"ttl": 60, **options}
    with pytest.raises(ValueError, match=message):
        await setup.client.send(setup.subscription, b"x", **arguments)


async def test_unreachable_service_retries(setup: Setup) -> None:
    subscription = {**setup.subscription, "endpoint": "https://127.0.0.1:9/push/abc"}
    result = await setup.client.send(subscription, b"x", ttl=60)
    assert result.outcome is Outcome.RETRY


@pytest.mark.parametrize(
    "broken",
    [
        {"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
        {"keys": {"auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
        {"endpoint": "not a url"},
        {"keys": None},
    ],
)
async def test_unusable_subscription_is_invalid(setup: Setup, broken: dict[str, Any]) -> None:
    subscription = {**setup.subscription, **broken}
    result = await setup.client.send(subscription, b"x", ttl=60)
    assert (result.outcome, result.reason) == (Outcome.INVALID_TOKEN, "InvalidSubscription")
    assert setup.service.received == []


async def test_short_auth_secret_is_invalid(setup: Setup) -> None:
    keys = {**setup.subscription["keys"], "auth": b64url_encode(b"short")}
    result = await setup.client.send({**setup.subscription, "keys": keys}, b"x", ttl=60)
    assert (result.outcome, result.reason) == (Outcome.INVALID_TOKEN, "InvalidSubscription")
