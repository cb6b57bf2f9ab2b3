"""Every transport end to end against the Clarion emulators over TLS, faults included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clarion.domain.limits import BuiltPayload
from clarion.domain.vocabulary import Provider
from clarion.emulators.suite import EmulatorSuite
from clarion.providers.apns import ApnsClient
from clarion.providers.fcm import FcmClient
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.sms import SmsClient
from clarion.providers.tls import client_ssl_context
from clarion.providers.transport import Address
from clarion.providers.webpush import WebPushClient, generate_vapid_keys
from tests.local_outbound import LOCAL_OUTBOUND

TEAM = "TEAMID1234"
KEY_ID = "KEYID12345"
TOPIC = "com.example.app"
DEVICE = "ab" * 32
APNS_HEADERS = {"apns-topic": TOPIC, "apns-push-type": "alert", "apns-priority": "10"}
APNS_PAYLOAD = json.dumps({"aps": {"alert": {"title": "Hello", "body": "World"}}}).encode()
FCM_TOKEN = "fcm-token:" + "x" * 140

# Every provider client must work on asyncio's own loop as well as on the production one.
pytestmark = pytest.mark.every_loop


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the whole module, so each suite start only binds ports."""
    return tmp_path_factory.mktemp("emulators")


@pytest.fixture
async def suite(state_dir: Path) -> AsyncIterator[EmulatorSuite]:
    async with EmulatorSuite(state_dir, seed=7) as running:
        yield running


@pytest.fixture
async def apns(suite: EmulatorSuite) -> AsyncIterator[ApnsClient]:
    pem = suite.apns.create_provider_key(TEAM, KEY_ID, [TOPIC])
    client = ApnsClient(
        TEAM, KEY_ID, pem, suite.apns.url, ca_file=suite.ca_file, outbound=LOCAL_OUTBOUND
    )
    try:
        yield client
    finally:
        await client.close()


async def test_apns_delivers(suite: EmulatorSuite, apns: ApnsClient) -> None:
    result = await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD)
    assert (result.outcome, result.status) == (Outcome.SENT, 200)
    (delivery,) = suite.apns.deliveries
    assert delivery.target == DEVICE
    assert delivery.payload == json.loads(APNS_PAYLOAD)
    assert delivery.headers["apns-topic"] == TOPIC
    assert result.provider_message_id == delivery.id


async def test_apns_unregistered_and_bad_tokens_are_invalid(
    suite: EmulatorSuite, apns: ApnsClient
) -> None:
    suite.apns.unregister_device(DEVICE)
    gone = await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD)
    malformed = await apns.send("not-a-token", APNS_HEADERS, APNS_PAYLOAD)
    assert (gone.outcome, gone.status, gone.reason) == (Outcome.INVALID_TOKEN, 410, "Unregistered")
    assert (malformed.outcome, malformed.reason) == (Outcome.INVALID_TOKEN, "BadDeviceToken")
    assert suite.apns.deliveries == []


async def test_apns_permanent_errors_fail(suite: EmulatorSuite, apns: ApnsClient) -> None:
    other_topic = await apns.send(DEVICE, {**APNS_HEADERS, "apns-topic": "com.other"}, APNS_PAYLOAD)
    too_big = json.dumps({"aps": {"alert": "x" * 5000}}).encode()
    oversized = await apns.send(DEVICE, APNS_HEADERS, too_big)
    assert (other_topic.outcome, other_topic.reason) == (Outcome.FAILED, "TopicDisallowed")
    assert (oversized.outcome, oversized.status, oversized.reason) == (
        Outcome.FAILED,
        413,
        "PayloadTooLarge",
    )


async def test_apns_429_burst_with_retry_after(suite: EmulatorSuite, apns: ApnsClient) -> None:
    suite.apns.faults.add_error_rate(1.0, "TooManyRequests", retry_after=5, count=3)
    results = [await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD) for _ in range(4)]
    assert [(r.outcome, r.status, r.retry_after) for r in results[:3]] == [
        (Outcome.RETRY, 429, 5.0)
    ] * 3
    assert results[3].sent
    assert len(suite.apns.deliveries) == 1


async def test_apns_5xx_burst_then_recovery(suite: EmulatorSuite, apns: ApnsClient) -> None:
    suite.apns.faults.add_error_rate(1.0, "ServiceUnavailable", count=2)
    suite.apns.faults.add_error_rate(1.0, "InternalServerError", count=1)
    results = [await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD) for _ in range(4)]
    assert [r.reason for r in results[:3]] == [
        "ServiceUnavailable",
        "ServiceUnavailable",
        "InternalServerError",
    ]
    assert all(r.outcome is Outcome.RETRY for r in results[:3])
    assert results[3].sent


async def test_apns_connection_reset_then_reconnect(suite: EmulatorSuite, apns: ApnsClient) -> None:
    suite.apns.faults.set_reset_rate(1.0, count=1)
    reset = await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD)
    after = await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD)
    assert reset.outcome is Outcome.RETRY
    assert after.sent
    assert len(suite.apns.deliveries) == 1


async def test_apns_goaway_under_concurrency_loses_nothing(
    suite: EmulatorSuite, apns: ApnsClient
) -> None:
    suite.apns.faults.set_goaway_after(7)
    results = await asyncio.gather(
        *(apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD) for _ in range(60))
    )
    assert [r.outcome for r in results] == [Outcome.SENT] * 60
    assert len(suite.apns.deliveries) == 60
    # 60 requests at 7 per connection cannot have gone through fewer connections.
    assert apns.pool.connections_opened >= 9


async def test_apns_batch_with_interleaved_header_sets(
    suite: EmulatorSuite, apns: ApnsClient
) -> None:
    low = {**APNS_HEADERS, "apns-priority": "5"}
    tokens = [f"{i:02x}" * 32 for i in range(40)]
    items = [
        (Address(token), _apns_payload(low if i % 2 else dict(APNS_HEADERS)))
        for i, token in enumerate(tokens)
    ]
    items.append((Address(None), _apns_payload(APNS_HEADERS)))
    suite.apns.unregister_device(tokens[3])
    results = await apns.deliver_many(items)
    outcomes = [r.outcome for r in results if isinstance(r, DeliveryResult)]
    assert len(outcomes) == 41
    assert outcomes[3] is Outcome.INVALID_TOKEN and outcomes[40] is Outcome.FAILED
    assert outcomes[:3] + outcomes[4:40] == [Outcome.SENT] * 39
    received = {d.target: d for d in suite.apns.deliveries}
    for i, token in enumerate(tokens):
        if i != 3:
            assert received[token].headers["apns-priority"] == ("5" if i % 2 else "10")
    by_token = {token: r for token, r in zip(tokens, results, strict=False)}
    assert by_token[tokens[0]].provider_message_id == received[tokens[0]].id  # type: ignore[union-attr]


async def test_apns_batch_resends_what_a_goaway_left_unprocessed(
    suite: EmulatorSuite, apns: ApnsClient
) -> None:
    suite.apns.faults.set_goaway_after(7)
    items = [(Address(f"{i:02x}" * 32), _apns_payload(APNS_HEADERS)) for i in range(60)]
    results = await apns.deliver_many(items)
    assert [getattr(r, "outcome", r) for r in results] == [Outcome.SENT] * 60
    assert len(suite.apns.deliveries) == 60
    assert apns.pool.connections_opened >= 9


def _apns_payload(headers: dict[str, str]) -> BuiltPayload:
    return BuiltPayload(Provider.APNS, headers, APNS_PAYLOAD, len(APNS_PAYLOAD), 4096)


async def test_apns_persistently_expired_token_fails_after_one_renewal(
    suite: EmulatorSuite, apns: ApnsClient
) -> None:
    suite.apns.faults.set_outcome(DEVICE, "ExpiredProviderToken")
    result = await apns.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD)
    assert (result.outcome, result.status, result.reason) == (
        Outcome.FAILED,
        403,
        "ExpiredProviderToken",
    )
    assert len(suite.apns.rejections) == 2


async def test_apns_respects_small_stream_limit(state_dir: Path) -> None:
    async with EmulatorSuite(state_dir, max_concurrent_streams=2) as small:
        small.apns.faults.set_latency(0.01)
        pem = small.apns.create_provider_key(TEAM, KEY_ID, [TOPIC])
        client = ApnsClient(
            TEAM,
            KEY_ID,
            pem,
            small.apns.url,
            ca_file=small.ca_file,
            max_connections=1,
            outbound=LOCAL_OUTBOUND,
        )
        try:
            results = await asyncio.gather(
                *(client.send(DEVICE, APNS_HEADERS, APNS_PAYLOAD) for _ in range(20))
            )
            assert len(client.pool.connections) == 1
        finally:
            await client.close()
    assert all(r.sent for r in results)
    assert len(small.apns.deliveries) == 20


@pytest.fixture
async def fcm(suite: EmulatorSuite) -> AsyncIterator[FcmClient]:
    account = suite.fcm.create_service_account("demo-project")
    client = FcmClient(
        account,
        suite.fcm.url,
        ssl_context=client_ssl_context(suite.ca_file),
        outbound=LOCAL_OUTBOUND,
    )
    try:
        yield client
    finally:
        await client.close()


def fcm_message(token: str = FCM_TOKEN) -> dict[str, object]:
    return {"token": token, "notification": {"title": "Hello", "body": "World"}}


async def test_fcm_delivers(suite: EmulatorSuite, fcm: FcmClient) -> None:
    result = await fcm.send(fcm_message())
    assert result.outcome is Outcome.SENT
    (delivery,) = suite.fcm.deliveries
    assert delivery.target == FCM_TOKEN
    assert result.provider_message_id == delivery.id
    assert result.provider_message_id is not None
    assert result.provider_message_id.startswith("projects/demo-project/messages/")


async def test_fcm_token_outcomes(suite: EmulatorSuite, fcm: FcmClient) -> None:
    suite.fcm.unregister_token(FCM_TOKEN)
    other = FCM_TOKEN + "b"
    suite.fcm.register_token(other, "another-project")
    unregistered = await fcm.send(fcm_message())
    mismatch = await fcm.send(fcm_message(other))
    malformed = await fcm.send(fcm_message("bad token!"))
    assert (unregistered.outcome, unregistered.reason) == (Outcome.INVALID_TOKEN, "UNREGISTERED")
    assert (mismatch.outcome, mismatch.reason) == (Outcome.FAILED, "SENDER_ID_MISMATCH")
    assert (malformed.outcome, malformed.reason) == (Outcome.INVALID_TOKEN, "INVALID_ARGUMENT")


async def test_fcm_invalid_message_fails_without_blaming_token(fcm: FcmClient) -> None:
    result = await fcm.send({"token": FCM_TOKEN, "data": {"count": 3}})
    assert (result.outcome, result.status, result.reason) == (
        Outcome.FAILED,
        400,
        "INVALID_ARGUMENT",
    )


async def test_fcm_quota_and_outage_bursts(suite: EmulatorSuite, fcm: FcmClient) -> None:
    suite.fcm.faults.add_error_rate(1.0, "QUOTA_EXCEEDED", count=1)
    suite.fcm.faults.add_error_rate(1.0, "UNAVAILABLE", retry_after=2, count=1)
    suite.fcm.faults.add_error_rate(1.0, "INTERNAL", count=1)
    results = [await fcm.send(fcm_message()) for _ in range(4)]
    assert [(r.outcome, r.reason) for r in results[:3]] == [
        (Outcome.RETRY, "QUOTA_EXCEEDED"),
        (Outcome.RETRY, "UNAVAILABLE"),
        (Outcome.RETRY, "INTERNAL"),
    ]
    assert results[0].retry_after is not None
    assert results[1].retry_after == 2.0
    assert results[3].sent


async def test_fcm_connection_reset_retries(suite: EmulatorSuite, fcm: FcmClient) -> None:
    suite.fcm.faults.set_reset_rate(1.0, count=1)
    reset = await fcm.send(fcm_message())
    after = await fcm.send(fcm_message())
    assert reset.outcome is Outcome.RETRY
    assert after.sent


def webpush_client(suite: EmulatorSuite) -> WebPushClient:
    private_pem, _ = generate_vapid_keys()
    return WebPushClient(
        private_pem,
        "mailto:ops@example.com",
        ssl_context=client_ssl_context(suite.ca_file),
        outbound=LOCAL_OUTBOUND,
    )


async def test_webpush_delivers_decryptable_payload(suite: EmulatorSuite) -> None:
    client = webpush_client(suite)
    subscription = suite.webpush.create_subscription(client.public_key)
    try:
        result = await client.send(subscription, b'{"title":"Hi"}', ttl=60, urgency="high")
    finally:
        await client.close()
    assert (result.outcome, result.status) == (Outcome.SENT, 201)
    (delivery,) = suite.webpush.deliveries_for(subscription["endpoint"])
    assert delivery.payload == {"title": "Hi"}


async def test_webpush_unsubscribed_is_invalid(suite: EmulatorSuite) -> None:
    client = webpush_client(suite)
    subscription = suite.webpush.create_subscription(client.public_key)
    suite.webpush.unsubscribe(subscription["endpoint"])
    try:
        result = await client.send(subscription, b"x", ttl=60)
    finally:
        await client.close()
    assert (result.outcome, result.status) == (Outcome.INVALID_TOKEN, 410)


async def test_webpush_wrong_vapid_key_fails(suite: EmulatorSuite) -> None:
    client = webpush_client(suite)
    _, someone_else = generate_vapid_keys()
    subscription = suite.webpush.create_subscription(someone_else)
    try:
        result = await client.send(subscription, b"x", ttl=60)
    finally:
        await client.close()
    assert result.outcome is Outcome.FAILED
    assert result.status in (401, 403)


async def test_webpush_429_and_5xx_retry(suite: EmulatorSuite) -> None:
    client = webpush_client(suite)
    subscription = suite.webpush.create_subscription(client.public_key)
    suite.webpush.faults.add_error_rate(1.0, "TooManyRequests", retry_after=30, count=1)
    suite.webpush.faults.add_error_rate(1.0, "ServiceUnavailable", count=1)
    try:
        results = [await client.send(subscription, b"x", ttl=60) for _ in range(3)]
    finally:
        await client.close()
    assert [(r.outcome, r.status, r.retry_after) for r in results[:2]] == [
        (Outcome.RETRY, 429, 30.0),
        (Outcome.RETRY, 503, None),
    ]
    assert results[2].sent


async def test_sms_delivers_and_rejects_bad_numbers(suite: EmulatorSuite) -> None:
    client = SmsClient(suite.sms.url, ssl_context=client_ssl_context(suite.ca_file))
    try:
        sent = await client.send("+33612345678", "Clarion", "Your code is 1234")
        bad = await client.send("0612345678", "Clarion", "hi")
        suite.sms.faults.add_error_rate(1.0, "UNAVAILABLE", retry_after=4, count=1)
        outage = await client.send("+33612345678", "Clarion", "again")
    finally:
        await client.close()
    assert (sent.outcome, sent.status) == (Outcome.SENT, 201)
    assert sent.provider_message_id == suite.sms.deliveries[0].id
    assert (bad.outcome, bad.reason) == (Outcome.INVALID_TOKEN, "INVALID_NUMBER")
    assert (outage.outcome, outage.status, outage.retry_after) == (Outcome.RETRY, 503, 4.0)
