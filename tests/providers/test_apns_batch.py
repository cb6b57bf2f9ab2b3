"""A batch of APNs requests sent as one unit: each answer in its place, streams given back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clarion.domain.limits import BuiltPayload
from clarion.domain.vocabulary import Provider
from clarion.emulators.suite import EmulatorSuite
from clarion.providers.apns import ApnsClient
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.transport import Address
from tests.local_outbound import LOCAL_OUTBOUND

TEAM = "TEAMID1234"
KEY_ID = "KEYID12345"
TOPIC = "com.example.app"
HEADERS = {"apns-topic": TOPIC, "apns-push-type": "alert", "apns-priority": "10"}
BODY = json.dumps({"aps": {"alert": {"title": "Hello", "body": "World"}}}).encode()
PAYLOAD = BuiltPayload(Provider.APNS, HEADERS, BODY, len(BODY), 4096)

pytestmark = pytest.mark.every_loop


def token(index: int) -> str:
    return f"{index:064x}"


def client_for(suite: EmulatorSuite, **options: float) -> ApnsClient:
    pem = suite.apns.create_provider_key(TEAM, KEY_ID, [TOPIC])
    return ApnsClient(
        TEAM,
        KEY_ID,
        pem,
        suite.apns.url,
        ca_file=suite.ca_file,
        max_connections=1,
        outbound=LOCAL_OUTBOUND,
        **options,  # type: ignore[arg-type]
    )


def outcome(result: DeliveryResult | Exception) -> Outcome:
    assert isinstance(result, DeliveryResult), result
    return result.outcome


async def test_a_batch_beyond_the_stream_limit_gets_every_answer_in_its_place(
    tmp_path: Path,
) -> None:
    async with EmulatorSuite(tmp_path, max_concurrent_streams=3) as suite:
        suite.apns.unregister_device(token(7))
        client = client_for(suite)
        items = [(Address(token(i)), PAYLOAD) for i in range(40)]
        items[12] = (Address(None), PAYLOAD)
        try:
            results = await client.deliver_many(items)
            assert len(client.pool.connections) == 1
            assert client.pool.connections[0].in_use == 0
        finally:
            await client.close()
    assert [outcome(r) for r in results] == [
        Outcome.INVALID_TOKEN if i == 7 else Outcome.FAILED if i == 12 else Outcome.SENT
        for i in range(40)
    ]
    missing = results[12]
    assert isinstance(missing, DeliveryResult) and missing.reason == "MissingDeviceToken"
    received = sorted(d.target for d in suite.apns.deliveries)
    assert received == sorted(token(i) for i in range(40) if i not in (7, 12))


async def test_a_batch_past_its_deadline_times_out_and_gives_its_streams_back(
    tmp_path: Path,
) -> None:
    async with EmulatorSuite(tmp_path, max_concurrent_streams=4) as suite:
        client = client_for(suite, request_timeout=0.3)
        try:
            suite.apns.faults.set_latency(2.0)
            slow = await client.deliver_many([(Address(token(i)), PAYLOAD) for i in range(3)])
            suite.apns.faults.set_latency(0.0)
            fast = await client.deliver_many([(Address(token(i)), PAYLOAD) for i in range(8)])
        finally:
            await client.close()
    assert all(isinstance(r, DeliveryResult) and r.reason == "timeout" for r in slow), slow
    assert [outcome(r) for r in slow] == [Outcome.RETRY] * 3
    assert [outcome(r) for r in fast] == [Outcome.SENT] * 8
