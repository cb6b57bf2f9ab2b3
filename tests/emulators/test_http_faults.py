"""Latency and reset rules on the HTTPS emulators (FCM, Web Push, SMS)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import DEVICE, fcm_send, https_client

SMS = {"to": "+14155552671", "from": "Clarion", "body": "hi"}


async def _sms(suite: EmulatorSuite) -> int:
    async with https_client(suite) as http, http.post(f"{suite.sms.url}/sms", json=SMS) as reply:
        return reply.status


async def _fcm(suite: EmulatorSuite, token: str) -> int:
    async with https_client(suite) as http:
        status, _, _ = await fcm_send(http, suite, token, {"message": {"token": DEVICE}})
    return status


async def _webpush(suite: EmulatorSuite) -> int:
    # No VAPID header: the answer (401) still comes after the added latency.
    endpoint = suite.webpush.create_subscription()["endpoint"]
    async with https_client(suite) as http, http.post(endpoint, data=b"") as reply:
        return reply.status


async def test_latency_delays_every_emulator(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    for emulator in (emulators.fcm, emulators.webpush, emulators.sms):
        emulator.faults.set_latency(0.15)
    loop = asyncio.get_running_loop()
    for name, call in (
        ("sms", _sms(emulators)),
        ("fcm", _fcm(emulators, fcm_access_token)),
        ("webpush", _webpush(emulators)),
    ):
        started = loop.time()
        status = await call
        # A lower bound only: the answer must not come before the configured delay.
        assert loop.time() - started >= 0.15, name
        assert status in (200, 201, 401), name


async def test_sms_connection_reset(emulators: EmulatorSuite) -> None:
    emulators.sms.faults.set_reset_rate(1.0, count=1)
    with pytest.raises(aiohttp.ClientError):
        await _sms(emulators)
    assert await _sms(emulators) == 201
    assert len(emulators.sms.deliveries) == 1
