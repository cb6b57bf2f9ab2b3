"""APNs emulator: Apple's request rules, auth, reasons and recorded deliveries over HTTP/2."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from clarion.emulators.apns import ApnsEmulator
from clarion.emulators.probe import H2Probe
from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import (
    ALERT,
    KEY_ID,
    TEAM_ID,
    TOKEN,
    TOPIC,
    apns_headers,
    connect_apns,
    provider_token,
    reason_of,
)


@pytest.fixture
def pem(emulators: EmulatorSuite) -> str:
    """A provider key registered for TOPIC."""
    return emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])


async def test_accepted_push_echoes_apns_id_and_is_recorded(
    emulators: EmulatorSuite, pem: str
) -> None:
    probe = await connect_apns(emulators)
    apns_id = str(uuid.uuid4())
    headers = apns_headers(
        provider_token(pem),
        apns_id=apns_id,
        apns_push_type="alert",
        apns_priority="10",
        apns_expiration="0",
        apns_collapse_id="c" * 64,
    )
    response = await probe.request(headers, ALERT)
    await probe.close()
    assert response.status == 200
    assert response.headers["apns-id"] == apns_id
    [delivery] = emulators.apns.deliveries
    assert delivery.target == TOKEN
    assert delivery.id == apns_id
    assert delivery.payload == json.loads(ALERT)
    assert delivery.headers["apns-topic"] == TOPIC
    assert delivery.headers["apns-collapse-id"] == "c" * 64


async def test_missing_apns_id_is_generated(emulators: EmulatorSuite, pem: str) -> None:
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(provider_token(pem)), ALERT)
    await probe.close()
    assert response.status == 200
    assert uuid.UUID(response.headers["apns-id"])
    assert emulators.apns.deliveries[0].id == response.headers["apns-id"]


async def test_advertises_max_concurrent_streams(emulators: EmulatorSuite) -> None:
    probe = await connect_apns(emulators)
    assert probe.max_concurrent_streams == 1000
    await probe.close()
    custom = ApnsEmulator(emulators.tls, max_concurrent_streams=7)
    await custom.start()
    try:
        other = await H2Probe.connect("127.0.0.1", custom.port, emulators.tls.client_context())
        assert other.max_concurrent_streams == 7
        await other.close()
    finally:
        await custom.stop()


def _foreign_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda pem: None, "MissingProviderToken"),
        (lambda pem: provider_token(_foreign_key_pem()), "InvalidProviderToken"),
        (lambda pem: provider_token(pem, key_id="UNKNOWNKEY"), "InvalidProviderToken"),
        (lambda pem: provider_token(pem, team_id="OTHERTEAM1"), "InvalidProviderToken"),
        (lambda pem: "not-a-jwt", "InvalidProviderToken"),
        (lambda pem: provider_token(pem, iat=time.time() - 3700), "ExpiredProviderToken"),
    ],
)
async def test_provider_token_problems_get_403(
    emulators: EmulatorSuite, pem: str, make_token: object, reason: str
) -> None:
    assert callable(make_token)
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(make_token(pem)), ALERT)
    await probe.close()
    assert (response.status, reason_of(response)) == (403, reason)
    assert emulators.apns.deliveries == []
    assert emulators.apns.rejections[-1].reason == reason


async def test_a_token_that_ages_past_an_hour_expires(emulators: EmulatorSuite, pem: str) -> None:
    token = provider_token(pem, iat=time.time() - 3500)
    assert emulators.apns.keys.authenticate(f"bearer {token}".encode()) != "ExpiredProviderToken"
    later = time.time() + 200
    assert emulators.apns.keys.authenticate(f"bearer {token}".encode(), now=later) == (
        "ExpiredProviderToken"
    )


async def test_revoked_key_makes_cached_tokens_invalid(emulators: EmulatorSuite, pem: str) -> None:
    header = f"bearer {provider_token(pem)}".encode()
    assert not isinstance(emulators.apns.keys.authenticate(header), str)
    emulators.apns.keys.revoke(KEY_ID)
    assert emulators.apns.keys.authenticate(header) == "InvalidProviderToken"


@pytest.mark.parametrize(
    ("extra", "status", "reason"),
    [
        ({"apns_push_type": "banner"}, 400, "InvalidPushType"),
        ({"apns_priority": "7"}, 400, "BadPriority"),
        ({"apns_expiration": "tomorrow"}, 400, "BadExpirationDate"),
        ({"apns_collapse_id": "x" * 65}, 400, "BadCollapseId"),
        ({"apns_id": "not-a-uuid"}, 400, "BadMessageId"),
    ],
)
async def test_header_rules(
    emulators: EmulatorSuite, pem: str, extra: dict[str, str], status: int, reason: str
) -> None:
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(provider_token(pem), **extra), ALERT)
    await probe.close()
    assert (response.status, reason_of(response)) == (status, reason)
    assert uuid.UUID(response.headers["apns-id"])


async def test_duplicate_headers_are_refused(emulators: EmulatorSuite, pem: str) -> None:
    probe = await connect_apns(emulators)
    headers = [*apns_headers(provider_token(pem)), ("apns-topic", TOPIC)]
    response = await probe.request(headers, ALERT)
    await probe.close()
    assert (response.status, reason_of(response)) == (400, "DuplicateHeaders")


@pytest.mark.parametrize(
    ("topic", "status", "reason"),
    [
        (None, 400, "MissingTopic"),
        ("com.other.app", 400, "TopicDisallowed"),
        (f"{TOPIC}.voip", 200, None),
        (f"{TOPIC}.bogus", 400, "TopicDisallowed"),
    ],
)
async def test_topic_rules(
    emulators: EmulatorSuite, pem: str, topic: str | None, status: int, reason: str | None
) -> None:
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(provider_token(pem), topic=topic), ALERT)
    await probe.close()
    assert response.status == status
    if reason is not None:
        assert reason_of(response) == reason


async def test_device_token_bound_to_another_topic(emulators: EmulatorSuite) -> None:
    pem = emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC, "com.example.other"])
    emulators.apns.register_device(TOKEN, "com.example.other")
    probe = await connect_apns(emulators)
    wrong = await probe.request(apns_headers(provider_token(pem)), ALERT)
    right = await probe.request(apns_headers(provider_token(pem), topic="com.example.other"), ALERT)
    await probe.close()
    assert (wrong.status, reason_of(wrong)) == (400, "DeviceTokenNotForTopic")
    assert right.status == 200


@pytest.mark.parametrize(
    ("body", "push_type", "status", "reason"),
    [
        (b"", "alert", 400, "PayloadEmpty"),
        (b"{" + b" " * 4094 + b"}", "alert", 200, None),
        (b"{" + b" " * 4095 + b"}", "alert", 413, "PayloadTooLarge"),
        (b"{" + b" " * 5118 + b"}", "voip", 200, None),
        (b"{" + b" " * 5119 + b"}", "voip", 413, "PayloadTooLarge"),
        (b"{" + b" " * 20000 + b"}", "alert", 413, "PayloadTooLarge"),
        (b"not json", "alert", 400, "BadPayload"),
        (b"[1, 2]", "alert", 400, "BadPayload"),
    ],
    ids=["empty", "4096", "4097", "voip-5120", "voip-5121", "20002", "not-json", "array"],
)
async def test_payload_rules(
    emulators: EmulatorSuite, body: bytes, push_type: str, status: int, reason: str | None
) -> None:
    pem = emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])
    topic = f"{TOPIC}.voip" if push_type == "voip" else TOPIC
    probe = await connect_apns(emulators)
    headers = apns_headers(provider_token(pem), topic=topic, apns_push_type=push_type)
    response = await probe.request(headers, body)
    await probe.close()
    assert response.status == status
    if reason is not None:
        assert reason_of(response) == reason


@pytest.mark.parametrize("token", ["zz" * 32, "ab" * 31, "abc", "ab" * 101])
async def test_bad_device_tokens(emulators: EmulatorSuite, pem: str, token: str) -> None:
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(provider_token(pem), token=token), ALERT)
    await probe.close()
    assert (response.status, reason_of(response)) == (400, "BadDeviceToken")


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("POST", "/3/devices/abc", 404, "BadPath"),
        ("POST", "/", 404, "BadPath"),
        ("GET", f"/3/device/{TOKEN}", 405, "MethodNotAllowed"),
        ("POST", "/3/device/", 400, "MissingDeviceToken"),
    ],
)
async def test_routes(
    emulators: EmulatorSuite, pem: str, method: str, path: str, status: int, reason: str
) -> None:
    probe = await connect_apns(emulators)
    headers = apns_headers(provider_token(pem), method=method, path=path)
    response = await probe.request(headers, ALERT if method == "POST" else b"")
    await probe.close()
    assert (response.status, reason_of(response)) == (status, reason)


async def test_many_concurrent_streams_on_one_connection(
    emulators: EmulatorSuite, pem: str
) -> None:
    probe = await connect_apns(emulators)
    headers = apns_headers(provider_token(pem))
    futures = [probe.start_request(headers, ALERT) for _ in range(300)]
    statuses = {(await future).status for future in futures}
    await probe.close()
    assert statuses == {200}
    assert len(emulators.apns.deliveries) == 300


async def test_a_client_that_is_not_http2_is_dropped(emulators: EmulatorSuite) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        emulators.apns.port,
        ssl=emulators.tls.client_context(),
        server_hostname="localhost",
    )
    writer.write(b"POST /3/device/abc HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    received = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    # Only HTTP/2 frames came back (the first is SETTINGS, type 4), then the server hung up.
    assert received[3] == 4
    assert b"HTTP/1.1" not in received


async def test_invalid_apns_id_is_never_echoed(emulators: EmulatorSuite) -> None:
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(None, apns_id="bogus"), ALERT)
    await probe.close()
    assert (response.status, reason_of(response)) == (403, "MissingProviderToken")
    assert uuid.UUID(response.headers["apns-id"])
