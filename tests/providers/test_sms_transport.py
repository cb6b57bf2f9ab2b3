"""SMS client against a local HTTP gateway over TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from clarion.providers.result import Outcome
from clarion.providers.sms import SmsClient
from clarion.providers.tls import client_ssl_context
from tests.providers.http_server import serve
from tests.providers.tls_material import TlsMaterial


@dataclass
class FakeGateway:
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    async def sms(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get("Authorization"), await request.json()))
        if self.answers:
            status, body, headers = self.answers.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"id": "sms-1", "status": "queued"}, status=201)


@pytest.fixture
async def gateway(tls: TlsMaterial) -> AsyncIterator[tuple[FakeGateway, SmsClient]]:
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/sms", fake.sms)
    async with serve(app, tls.server_context(["http/1.1"])) as url:
        client = SmsClient(url, "key-1", ssl_context=client_ssl_context(tls.ca_file))
        try:
            yield fake, client
        finally:
            await client.close()


async def test_sends_sms(gateway: tuple[FakeGateway, SmsClient]) -> None:
    fake, client = gateway
    result = await client.send("+33612345678", "Clarion", "Your code is 1234")
    assert (result.outcome, result.status, result.provider_message_id) == (
        Outcome.SENT,
        201,
        "sms-1",
    )
    assert fake.received == [
        ("Bearer key-1", {"to": "+33612345678", "from": "Clarion", "body": "Your code is 1234"})
    ]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, {"error": {"code": "INVALID_NUMBER", "message": "not E.164"}}, Outcome.INVALID_TOKEN),
        (404, {"error": {"code": "UNREACHABLE"}}, Outcome.INVALID_TOKEN),
        (400, {"error": {"code": "INVALID_BODY"}}, Outcome.FAILED),
        (403, {"error": {"code": "BLOCKED", "message": "number blocked"}}, Outcome.FAILED),
        (401, {"error": "unauthorized"}, Outcome.FAILED),
        (429, {"error": "slow down"}, Outcome.RETRY),
        (503, {}, Outcome.RETRY),
    ],
)
async def test_maps_gateway_answers(
    gateway: tuple[FakeGateway, SmsClient], status: int, body: dict[str, Any], outcome: Outcome
) -> None:
    fake, client = gateway
    fake.answers.append((status, body, {"Retry-After": "3"}))
    result = await client.send("+33612345678", "Clarion", "hi")
    assert (result.outcome, result.status) == (outcome, status)
    assert result.retry_after == (3.0 if outcome is Outcome.RETRY else None)
