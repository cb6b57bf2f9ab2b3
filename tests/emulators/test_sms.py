"""SMS emulator: E.164 checks, recorded deliveries and fault rules."""

from __future__ import annotations

from typing import Any

import pytest

from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import https_client

NUMBER = "+14155552671"


async def send_sms(suite: EmulatorSuite, body: Any) -> tuple[int, Any, dict[str, str]]:
    """POST /sms and return status, JSON body and headers."""
    async with https_client(suite) as http, http.post(f"{suite.sms.url}/sms", json=body) as reply:
        return reply.status, await reply.json(), dict(reply.headers)


async def test_accepted_message_is_recorded(emulators: EmulatorSuite) -> None:
    status, body, _ = await send_sms(emulators, {"to": NUMBER, "from": "Clarion", "body": "Hi"})
    assert status == 201
    assert body["status"] == "queued"
    [delivery] = emulators.sms.deliveries
    assert delivery.id == body["id"]
    assert delivery.target == NUMBER
    assert delivery.payload == {"to": NUMBER, "from": "Clarion", "body": "Hi"}


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"to": "4155552671", "from": "Clarion", "body": "x"}, "INVALID_NUMBER"),
        ({"to": "+1415555", "from": "Clarion", "body": "x"}, "INVALID_NUMBER"),
        ({"to": "+1 415 555 2671", "from": "Clarion", "body": "x"}, "INVALID_NUMBER"),
        ({"to": NUMBER, "from": "TooLongSenderName", "body": "x"}, "INVALID_SENDER"),
        ({"to": NUMBER, "from": "", "body": "x"}, "INVALID_SENDER"),
        ({"to": NUMBER, "from": "+12", "body": "x"}, "INVALID_SENDER"),
        ({"to": NUMBER, "from": "Clarion", "body": ""}, "INVALID_BODY"),
        ({"to": NUMBER, "from": "Clarion", "body": "x" * 1601}, "INVALID_BODY"),
        ({"to": NUMBER, "from": "Clarion"}, "INVALID_BODY"),
    ],
)
async def test_validation(emulators: EmulatorSuite, message: dict[str, str], code: str) -> None:
    status, body, _ = await send_sms(emulators, message)
    assert (status, body["error"]["code"]) == (400, code)
    assert emulators.sms.deliveries == []


async def test_sender_may_be_a_number(emulators: EmulatorSuite) -> None:
    status, _, _ = await send_sms(emulators, {"to": NUMBER, "from": "+447911123456", "body": "x"})
    assert status == 201


async def test_faults_per_number_and_rate(emulators: EmulatorSuite) -> None:
    emulators.sms.faults.set_outcome(NUMBER, "UNREACHABLE")
    status, body, _ = await send_sms(emulators, {"to": NUMBER, "from": "Clarion", "body": "x"})
    assert (status, body["error"]["code"]) == (404, "UNREACHABLE")
    emulators.sms.faults.clear()
    emulators.sms.faults.add_error_rate(1.0, "RATE_LIMITED", retry_after=2, count=1)
    status, _, headers = await send_sms(emulators, {"to": NUMBER, "from": "Clarion", "body": "x"})
    assert (status, headers["Retry-After"]) == (429, "2")
    status, _, _ = await send_sms(emulators, {"to": NUMBER, "from": "Clarion", "body": "x"})
    assert status == 201


async def test_control_api_lists_deliveries(emulators: EmulatorSuite) -> None:
    await send_sms(emulators, {"to": NUMBER, "from": "Clarion", "body": "one"})
    async with https_client(emulators) as http:
        async with http.get(f"{emulators.sms.url}/_emulator/deliveries") as reply:
            [listed] = (await reply.json())["deliveries"]
        async with http.post(f"{emulators.sms.url}/sms", data=b"nope") as reply:
            assert reply.status == 400
    assert listed["payload"]["body"] == "one"
