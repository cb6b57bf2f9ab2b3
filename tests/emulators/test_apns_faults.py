"""APNs fault rules: fixed outcomes, error rates, latency, resets, GOAWAY, control API."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from clarion.emulators.faults import FaultRuleError
from clarion.emulators.probe import StreamRefused
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
def headers(emulators: EmulatorSuite) -> list[tuple[str, str]]:
    """Valid push headers with a fresh provider token."""
    pem = emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])
    return apns_headers(provider_token(pem))


async def test_unregistered_token_gets_410_with_timestamp(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    outcome = emulators.apns.unregister_device(TOKEN)
    probe = await connect_apns(emulators)
    response = await probe.request(headers, ALERT)
    await probe.close()
    assert response.status == 410
    assert json.loads(bytes(response.body)) == {
        "reason": "Unregistered",
        "timestamp": outcome.timestamp_ms,
    }
    assert emulators.apns.deliveries == []


async def test_fixed_outcome_only_hits_its_token(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    emulators.apns.faults.set_outcome(TOKEN, "BadDeviceToken")
    other = [(k, v.replace(TOKEN, "cd" * 32)) for k, v in headers]
    probe = await connect_apns(emulators)
    refused = await probe.request(headers, ALERT)
    accepted = await probe.request(other, ALERT)
    emulators.apns.faults.clear_outcome(TOKEN)
    after_clear = await probe.request(headers, ALERT)
    await probe.close()
    assert (refused.status, reason_of(refused)) == (400, "BadDeviceToken")
    assert accepted.status == 200
    assert after_clear.status == 200


@pytest.mark.parametrize(
    ("reason", "status"),
    [("TooManyRequests", 429), ("InternalServerError", 500), ("ServiceUnavailable", 503)],
)
async def test_error_burst_then_recovery(
    emulators: EmulatorSuite, headers: list[tuple[str, str]], reason: str, status: int
) -> None:
    emulators.apns.faults.add_error_rate(1.0, reason, retry_after=3, count=2)
    probe = await connect_apns(emulators)
    answers = [await probe.request(headers, ALERT) for _ in range(3)]
    await probe.close()
    assert [a.status for a in answers] == [status, status, 200]
    assert reason_of(answers[0]) == reason
    assert answers[0].headers["retry-after"] == "3"
    assert len(emulators.apns.deliveries) == 1


async def test_partial_error_rate_fails_some_requests(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    emulators.apns.faults.add_error_rate(0.5, "ServiceUnavailable")
    probe = await connect_apns(emulators)
    futures = [probe.start_request(headers, ALERT) for _ in range(60)]
    statuses = [(await f).status for f in futures]
    await probe.close()
    assert 0 < statuses.count(503) < 60
    assert statuses.count(200) == len(emulators.apns.deliveries)


async def test_added_latency_delays_answers(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    emulators.apns.faults.set_latency(0.2)
    probe = await connect_apns(emulators)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await probe.request(headers, ALERT)
    waited = loop.time() - started
    await probe.close()
    assert response.status == 200
    # A lower bound only: the emulator must hold the answer at least this long.
    assert waited >= 0.2


async def test_connection_reset(emulators: EmulatorSuite, headers: list[tuple[str, str]]) -> None:
    emulators.apns.faults.set_reset_rate(1.0, count=1)
    probe = await connect_apns(emulators)
    with pytest.raises(StreamRefused):
        await probe.request(headers, ALERT)
    assert not probe.is_open
    again = await connect_apns(emulators)
    response = await again.request(headers, ALERT)
    await again.close()
    assert response.status == 200
    assert len(emulators.apns.deliveries) == 1


async def test_goaway_after_n_streams(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    emulators.apns.faults.set_goaway_after(2)
    probe = await connect_apns(emulators)
    first = await probe.request(headers, ALERT)
    second = await probe.request(headers, ALERT)
    assert (first.status, second.status) == (200, 200)
    with pytest.raises(StreamRefused):
        await probe.request(headers, ALERT)
    assert probe.goaway_last_stream == 3
    await probe.close()
    assert len(emulators.apns.deliveries) == 2


async def test_goaway_refuses_streams_already_in_flight(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    emulators.apns.faults.set_goaway_after(2)
    probe = await connect_apns(emulators)
    futures = [probe.start_request(headers, ALERT) for _ in range(6)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    await probe.close()
    answered = [r for r in results if not isinstance(r, BaseException)]
    assert [r.status for r in answered] == [200, 200]
    assert all(isinstance(r, StreamRefused) for r in results[2:])
    assert len(emulators.apns.deliveries) == 2


def test_unknown_reason_needs_a_status(emulators: EmulatorSuite) -> None:
    with pytest.raises(FaultRuleError):
        emulators.apns.faults.set_outcome(TOKEN, "Bogus")
    outcome = emulators.apns.faults.set_outcome(TOKEN, "Bogus", status=418)
    assert outcome.status == 418
    with pytest.raises(FaultRuleError):
        emulators.apns.faults.add_error_rate(1.5, "TooManyRequests")


async def test_control_api_over_plain_http(
    emulators: EmulatorSuite, headers: list[tuple[str, str]]
) -> None:
    control = emulators.apns.control_url
    assert control.startswith("http://")
    async with aiohttp.ClientSession() as http:
        rules = {
            "targets": {TOKEN: {"reason": "Unregistered"}},
            "error_rate": {"rate": 1, "reason": "TooManyRequests", "count": 1, "retry_after": 5},
        }
        async with http.post(f"{control}/_emulator/faults", json=rules) as reply:
            assert reply.status == 200
            shown = await reply.json()
        assert shown["targets"][TOKEN]["status"] == 410
        assert shown["error_rates"][0]["remaining"] == 1
        other = [(k, v.replace(TOKEN, "cd" * 32)) for k, v in headers]
        probe = await connect_apns(emulators)
        throttled = await probe.request(other, ALERT)
        gone = await probe.request(headers, ALERT)
        delivered = await probe.request(other, ALERT)
        assert (throttled.status, gone.status, delivered.status) == (429, 410, 200)
        async with http.get(f"{control}/_emulator/deliveries") as reply:
            shown = await reply.json()
        listed = shown["deliveries"]
        assert shown["total"] == 1
        assert [d["target"] for d in listed] == ["cd" * 32]
        assert listed[0]["payload"] == json.loads(ALERT)
        async with http.get(f"{control}/_emulator/rejections") as reply:
            reasons = [r["reason"] for r in (await reply.json())["rejections"]]
        assert reasons == ["TooManyRequests", "Unregistered"]
        async with http.delete(f"{control}/_emulator/faults") as reply:
            assert reply.status == 204
        assert (await probe.request(headers, ALERT)).status == 200
        async with http.delete(f"{control}/_emulator/deliveries") as reply:
            assert reply.status == 204
        assert emulators.apns.deliveries == []
        await probe.close()


@pytest.mark.parametrize(
    "rules",
    [
        {"targets": {TOKEN: {"reason": "NoSuchReason"}}},
        {"error_rate": {"rate": 2, "reason": "TooManyRequests"}},
        {"latency_ms": -5},
        {"goaway_after_streams": 0},
        {"surprise": 1},
        {"targets": {TOKEN: {"status": 410}}},
        {
            "targets": {TOKEN: {"reason": "Unregistered"}},
            "error_rate": {"rate": 2, "reason": "TooManyRequests"},
        },
        [1, 2],
    ],
)
async def test_control_api_refuses_bad_rules(emulators: EmulatorSuite, rules: object) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{emulators.apns.control_url}/_emulator/faults"
        async with http.post(url, json=rules) as reply:
            assert reply.status == 400
        async with http.get(url) as reply:
            assert (await reply.json())["targets"] == {}


async def test_control_api_sets_latency_reset_and_goaway(emulators: EmulatorSuite) -> None:
    async with aiohttp.ClientSession() as http:
        rules = {
            "latency_ms": 20,
            "reset": {"rate": 0.5, "count": 3},
            "goaway_after_streams": 9,
            "error_rate": [
                {"rate": 0.1, "reason": "ServiceUnavailable"},
                {"rate": 0.2, "reason": "Teapot", "status": 418, "retry_after": 1},
            ],
        }
        async with http.post(f"{emulators.apns.control_url}/_emulator/faults", json=rules) as reply:
            assert reply.status == 200
    faults = emulators.apns.faults
    assert faults.latency == pytest.approx(0.02)
    assert faults.reset is not None and (faults.reset.rate, faults.reset.remaining) == (0.5, 3)
    assert faults.goaway_after_streams == 9
    assert [(f.rate, f.outcome.status) for f in faults.rates] == [(0.1, 503), (0.2, 418)]


async def test_control_api_creates_keys_and_binds_devices(emulators: EmulatorSuite) -> None:
    async with aiohttp.ClientSession() as http:
        control = emulators.apns.control_url
        body = {"team_id": TEAM_ID, "key_id": KEY_ID, "topics": [TOPIC, "com.example.b"]}
        async with http.post(f"{control}/_emulator/keys", json=body) as reply:
            pem = (await reply.json())["private_key"]
        async with http.post(
            f"{control}/_emulator/devices", json={"token": TOKEN, "topic": "com.example.b"}
        ) as reply:
            assert reply.status == 200
        async with http.post(f"{control}/_emulator/keys", json={"team_id": 1}) as reply:
            assert reply.status == 400
    probe = await connect_apns(emulators)
    response = await probe.request(apns_headers(provider_token(pem)), ALERT)
    await probe.close()
    assert reason_of(response) == "DeviceTokenNotForTopic"
