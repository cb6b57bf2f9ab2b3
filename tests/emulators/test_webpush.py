"""Web Push emulator: pywebpush end to end, VAPID and header rules, decryption, faults."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import http_ece
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from py_vapid import Vapid02  # type: ignore[import-untyped]
from pywebpush import WebPusher, webpush, webpush_async

from clarion.emulators.suite import EmulatorSuite
from clarion.emulators.webpush_crypto import (
    DecryptError,
    b64url_decode,
    b64url_encode,
    decrypt_aes128gcm,
    new_browser_keys,
)
from tests.emulators.support import https_client

CLAIMS = {"sub": "mailto:ops@example.com"}


def raw_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The uncompressed public point of a key."""
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def vapid_header(
    key: ec.EllipticCurvePrivateKey,
    aud: str,
    exp: float | None = None,
    sub: str | None = "mailto:ops@example.com",
    k: str | None = None,
) -> str:
    """An RFC 8292 `vapid t=..., k=...` header built by hand."""
    claims: dict[str, Any] = {
        "aud": aud,
        "exp": int(exp if exp is not None else time.time() + 3600),
    }
    if sub is not None:
        claims["sub"] = sub
    token = jwt.encode(claims, key, algorithm="ES256")
    return f"vapid t={token}, k={k if k is not None else b64url_encode(raw_public(key))}"


def encrypted(subscription: dict[str, Any], data: bytes) -> bytes:
    """An aes128gcm body for the subscription, made by pywebpush's own encoder."""
    body: bytes = WebPusher(subscription).encode(data, "aes128gcm")["body"]
    return body


async def post(
    suite: EmulatorSuite, endpoint: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    """POST to a push endpoint and return status, headers and JSON body (if any)."""
    async with (
        https_client(suite) as http,
        http.post(endpoint, data=body, headers=headers) as reply,
    ):
        text = await reply.text()
        return reply.status, dict(reply.headers), json.loads(text) if text else None


def good_headers(suite: EmulatorSuite, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """Headers a correct sender uses."""
    return {
        "Authorization": vapid_header(key, suite.webpush.url),
        "TTL": "60",
        "Content-Encoding": "aes128gcm",
        "Urgency": "high",
        "Topic": "scores",
    }


def test_subscription_shape(emulators: EmulatorSuite) -> None:
    subscription = emulators.webpush.create_subscription()
    assert set(subscription) == {"endpoint", "keys"}
    assert subscription["endpoint"].startswith(f"{emulators.webpush.url}/push/")
    assert len(b64url_decode(subscription["keys"]["p256dh"])) == 65
    assert len(b64url_decode(subscription["keys"]["auth"])) == 16


async def test_pywebpush_sync_client(emulators: EmulatorSuite) -> None:
    subscription = emulators.webpush.create_subscription()
    client = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE from the environment override `verify` unless told not to.
    client.trust_env = False
    client.verify = str(emulators.ca_file)
    vapid = Vapid02()
    vapid.generate_keys()
    data = json.dumps({"title": "Hello", "body": "from pywebpush"})
    response = await asyncio.to_thread(
        webpush,
        subscription,
        data=data,
        vapid_private_key=vapid,
        vapid_claims=dict(CLAIMS),
        ttl=120,
        requests_session=client,
    )
    assert not isinstance(response, str)
    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{emulators.webpush.url}/m/")
    [delivery] = emulators.webpush.deliveries_for(subscription["endpoint"])
    assert delivery.body == data.encode()
    assert delivery.payload == {"title": "Hello", "body": "from pywebpush"}
    assert delivery.headers["ttl"] == "120"
    assert delivery.headers["content-encoding"] == "aes128gcm"


async def test_pywebpush_async_client(emulators: EmulatorSuite) -> None:
    async with https_client(emulators) as http:
        created = await http.post(f"{emulators.webpush.url}/_emulator/subscriptions")
        subscription = await created.json()
        vapid = Vapid02()
        vapid.generate_keys()
        response = await webpush_async(
            subscription,
            data="plain text payload",
            vapid_private_key=vapid,
            vapid_claims=dict(CLAIMS),
            ttl=30,
            aiohttp_session=http,
        )
        assert not isinstance(response, str)
        assert response.status == 201
        async with http.get(f"{emulators.webpush.url}/_emulator/deliveries") as reply:
            [listed] = (await reply.json())["deliveries"]
    assert listed["payload"] == "plain text payload"


def _sender_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def test_restricted_subscription_accepts_only_its_sender(emulators: EmulatorSuite) -> None:
    owner, stranger = _sender_key(), _sender_key()
    subscription = emulators.webpush.create_subscription(b64url_encode(raw_public(owner)))
    body = encrypted(subscription, b"hi")
    status, _, _ = await post(
        emulators, subscription["endpoint"], body, good_headers(emulators, stranger)
    )
    assert status == 403
    status, _, _ = await post(
        emulators, subscription["endpoint"], body, good_headers(emulators, owner)
    )
    assert status == 201


def _vapid_cases(url: str, key: ec.EllipticCurvePrivateKey) -> list[tuple[str | None, int]]:
    other = _sender_key()
    return [
        (None, 401),
        (f"WebPush {jwt.encode({'aud': url}, key, algorithm='ES256')}", 401),
        (vapid_header(key, url).split(", k=")[0], 400),
        (f"vapid t=abc, k={b64url_encode(b'short')}", 400),
        (vapid_header(key, "https://push.example.net"), 401),
        (vapid_header(key, url, exp=time.time() - 10), 401),
        (vapid_header(key, url, exp=time.time() + 25 * 3600), 401),
        (vapid_header(key, url, sub=None), 401),
        (vapid_header(key, url, sub="ops@example.com"), 401),
        (vapid_header(key, url, k=b64url_encode(raw_public(other))), 401),
        ("vapid t=not.a.jwt, k=" + b64url_encode(raw_public(key)), 401),
    ]


async def test_vapid_rules(emulators: EmulatorSuite) -> None:
    subscription = emulators.webpush.create_subscription()
    key = _sender_key()
    body = encrypted(subscription, b"hi")
    for authorization, expected in _vapid_cases(emulators.webpush.url, key):
        headers = {"TTL": "60", "Content-Encoding": "aes128gcm"}
        if authorization is not None:
            headers["Authorization"] = authorization
        status, _, _ = await post(emulators, subscription["endpoint"], body, headers)
        assert (authorization, status) == (authorization, expected)
    assert emulators.webpush.deliveries == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"TTL": None}, 400),
        ({"TTL": "-1"}, 400),
        ({"Urgency": "urgent"}, 400),
        ({"Topic": "a" * 33}, 400),
        ({"Topic": "has space"}, 400),
        ({"Content-Encoding": "aesgcm"}, 400),
        ({"Urgency": "very-low", "Topic": "a" * 32}, 201),
    ],
)
async def test_header_rules(
    emulators: EmulatorSuite, change: dict[str, str | None], status: int
) -> None:
    subscription = emulators.webpush.create_subscription()
    headers = good_headers(emulators, _sender_key())
    for name, value in change.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    got, _, _ = await post(
        emulators, subscription["endpoint"], encrypted(subscription, b"x"), headers
    )
    assert got == status


async def test_body_limit_is_4096_bytes(emulators: EmulatorSuite) -> None:
    subscription = emulators.webpush.create_subscription()
    headers = good_headers(emulators, _sender_key())
    # aes128gcm adds 86 bytes of header and 17 of padding delimiter and tag.
    fits = encrypted(subscription, b"a" * (4096 - 103))
    too_big = encrypted(subscription, b"a" * (4096 - 102))
    assert (len(fits), len(too_big)) == (4096, 4097)
    assert (await post(emulators, subscription["endpoint"], fits, headers))[0] == 201
    assert (await post(emulators, subscription["endpoint"], too_big, headers))[0] == 413


async def test_tampered_or_misaddressed_bodies_are_refused(emulators: EmulatorSuite) -> None:
    subscription = emulators.webpush.create_subscription()
    other = emulators.webpush.create_subscription()
    headers = good_headers(emulators, _sender_key())
    body = bytearray(encrypted(subscription, b"secret"))
    body[-1] ^= 1
    assert (await post(emulators, subscription["endpoint"], bytes(body), headers))[0] == 400
    for_other = encrypted(other, b"secret")
    assert (await post(emulators, subscription["endpoint"], for_other, headers))[0] == 400
    assert (await post(emulators, subscription["endpoint"], b"short", headers))[0] == 400


async def test_unknown_unsubscribed_and_expired_subscriptions(emulators: EmulatorSuite) -> None:
    headers = good_headers(emulators, _sender_key())
    live = emulators.webpush.create_subscription()
    body = encrypted(live, b"x")
    assert (await post(emulators, f"{emulators.webpush.url}/push/nope", body, headers))[0] == 404
    emulators.webpush.unsubscribe(live["endpoint"])
    assert (await post(emulators, live["endpoint"], body, headers))[0] == 410
    expired = emulators.webpush.create_subscription(expires_in=0)
    assert (await post(emulators, expired["endpoint"], encrypted(expired, b"x"), headers))[0] == 410
    removed = emulators.webpush.create_subscription()
    async with https_client(emulators) as http:
        sub_id = emulators.webpush.subscription_id(removed["endpoint"])
        url = f"{emulators.webpush.url}/_emulator/subscriptions/{sub_id}"
        async with http.delete(url) as reply:
            assert reply.status == 204
    assert (await post(emulators, removed["endpoint"], encrypted(removed, b"x"), headers))[0] == 410


async def test_faults_per_subscription_rate_and_reset(emulators: EmulatorSuite) -> None:
    headers = good_headers(emulators, _sender_key())
    subscription = emulators.webpush.create_subscription()
    sub_id = emulators.webpush.subscription_id(subscription["endpoint"])
    body = encrypted(subscription, b"x")
    emulators.webpush.faults.set_outcome(sub_id, "Gone")
    assert (await post(emulators, subscription["endpoint"], body, headers))[0] == 410
    emulators.webpush.faults.clear()
    emulators.webpush.faults.add_error_rate(1.0, "TooManyRequests", retry_after=4, count=1)
    status, reply_headers, problem = await post(emulators, subscription["endpoint"], body, headers)
    assert (status, reply_headers["Retry-After"], problem["error"]) == (429, "4", "TooManyRequests")
    emulators.webpush.faults.set_reset_rate(1.0, count=1)
    with pytest.raises(aiohttp.ClientError):
        await post(emulators, subscription["endpoint"], body, headers)
    assert (await post(emulators, subscription["endpoint"], body, headers))[0] == 201
    assert len(emulators.webpush.deliveries) == 1


async def test_bad_subscription_requests_on_control_api(emulators: EmulatorSuite) -> None:
    async with https_client(emulators) as http:
        url = f"{emulators.webpush.url}/_emulator/subscriptions"
        async with http.post(url, data=b"{bad", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
        async with http.post(url, json={"expires_in": "soon"}) as reply:
            assert reply.status == 400
        async with http.delete(f"{url}/unknown") as reply:
            assert reply.status == 404


@settings(max_examples=25, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000), record_size=st.integers(min_value=18, max_value=4096)
)
def test_decryption_matches_http_ece(data: bytes, record_size: int) -> None:
    keys = new_browser_keys()
    sender = ec.generate_private_key(ec.SECP256R1())
    body = http_ece.encrypt(
        data,
        private_key=sender,
        dh=keys.public_bytes,
        auth_secret=keys.auth_secret,
        rs=record_size,
        version="aes128gcm",
    )
    assert decrypt_aes128gcm(body, keys) == data


def test_decryption_rejects_wrong_auth_secret() -> None:
    keys = new_browser_keys()
    other = new_browser_keys()
    sender = ec.generate_private_key(ec.SECP256R1())
    body = http_ece.encrypt(
        b"x",
        private_key=sender,
        dh=keys.public_bytes,
        auth_secret=other.auth_secret,
        version="aes128gcm",
    )
    with pytest.raises(DecryptError):
        decrypt_aes128gcm(body, keys)


async def test_binary_plaintext_is_listed_as_base64(emulators: EmulatorSuite) -> None:
    subscription = emulators.webpush.create_subscription()
    headers = good_headers(emulators, _sender_key())
    body = encrypted(subscription, b"\xff\xfe\x00binary")
    assert (await post(emulators, subscription["endpoint"], body, headers))[0] == 201
    url = f"{emulators.webpush.url}/_emulator/deliveries"
    async with https_client(emulators) as http, http.get(url) as reply:
        [listed] = (await reply.json())["deliveries"]
    assert listed["payload"] is None
    assert b64url_decode(listed["body_base64"].rstrip("=")) == b"\xff\xfe\x00binary"
