"""APNs client against a local HTTP/2 server over real TLS: auth, mapping, pooling, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clarion.providers.apns import ApnsClient
from clarion.providers.result import Outcome
from tests.local_outbound import LOCAL_OUTBOUND
from tests.providers.h2_server import H2TestServer, Reply, Request
from tests.providers.tls_material import TlsMaterial

# The HTTP/2 client must work on asyncio's own loop as well as on the production one.
pytestmark = pytest.mark.every_loop

TEAM = "TEAM123456"
KEY_ID = "KEY1234567"
TOKEN = "a" * 64
HEADERS = {"apns-topic": "com.example.app", "apns-push-type": "alert"}
PAYLOAD = json.dumps({"aps": {"alert": "hi"}}).encode()

ServerFactory = Callable[..., Awaitable[tuple[H2TestServer, str]]]


@pytest.fixture
async def start_server(tls: TlsMaterial) -> AsyncIterator[ServerFactory]:
    """Start H2 test servers on demand and stop them afterwards."""
    servers: list[H2TestServer] = []

    async def start(**options: object) -> tuple[H2TestServer, str]:
        require_client_cert = bool(options.pop("require_client_cert", False))
        alpn = list(options.pop("alpn", ["h2"]))  # type: ignore[call-overload]
        context = tls.server_context(alpn, require_client_cert)
        server = H2TestServer(context, **options)  # type: ignore[arg-type]
        servers.append(server)
        return server, await server.start()

    yield start
    for server in servers:
        await server.stop()


def make_client(url: str, tls: TlsMaterial, key_pem: str, **options: object) -> ApnsClient:
    """A token-auth client trusting the test CA."""
    return ApnsClient(
        TEAM,
        KEY_ID,
        key_pem,
        url,
        ca_file=tls.ca_file,
        outbound=LOCAL_OUTBOUND,
        **options,  # type: ignore[arg-type]
    )


async def test_sends_token_authenticated_request(
    start_server: ServerFactory,
    tls: TlsMaterial,
    apns_key_pem: str,
    apns_key: ec.EllipticCurvePrivateKey,
) -> None:
    async def answer(_: Request) -> Reply:
        return Reply(200, {"apns-id": "11111111-2222-3333-4444-555555555555"})

    server, url = await start_server(handler=answer)
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.outcome is Outcome.SENT
    assert result.provider_message_id == "11111111-2222-3333-4444-555555555555"
    request = server.requests[0]
    assert request.headers[":path"] == f"/3/device/{TOKEN}"
    assert request.headers[":method"] == "POST"
    assert request.headers["apns-topic"] == "com.example.app"
    assert request.body == PAYLOAD
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "bearer"
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = jwt.decode(token, apns_key.public_key(), algorithms=["ES256"])
    assert claims["iss"] == TEAM
    assert isinstance(claims["iat"], int)


async def test_token_is_reused_across_requests(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    server, url = await start_server()
    client = make_client(url, tls, apns_key_pem)
    try:
        for _ in range(3):
            assert (await client.send(TOKEN, HEADERS, PAYLOAD)).sent
    finally:
        await client.close()
    assert len({r.headers["authorization"] for r in server.requests}) == 1


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        (400, "BadDeviceToken", Outcome.INVALID_TOKEN),
        (410, "Unregistered", Outcome.INVALID_TOKEN),
        (410, "ExpiredToken", Outcome.INVALID_TOKEN),
        (413, "PayloadTooLarge", Outcome.FAILED),
        (400, "TopicDisallowed", Outcome.FAILED),
        (400, "DeviceTokenNotForTopic", Outcome.FAILED),
        (403, "InvalidProviderToken", Outcome.FAILED),
        (429, "TooManyRequests", Outcome.RETRY),
        (500, "InternalServerError", Outcome.RETRY),
        (503, "ServiceUnavailable", Outcome.RETRY),
    ],
)
async def test_maps_apple_reasons(
    start_server: ServerFactory,
    tls: TlsMaterial,
    apns_key_pem: str,
    status: int,
    reason: str,
    outcome: Outcome,
) -> None:
    async def answer(_: Request) -> Reply:
        body = {"reason": reason}
        if status == 410:
            body["timestamp"] = "1700000000000"
        return Reply(status, {"apns-id": "abc", "retry-after": "7"}, json.dumps(body).encode())

    _, url = await start_server(handler=answer)
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert (result.outcome, result.status, result.reason) == (outcome, status, reason)
    assert result.retry_after == (7.0 if outcome is Outcome.RETRY else None)


async def test_expired_provider_token_is_reminted_once(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    seen: list[str] = []

    async def answer(request: Request) -> Reply:
        seen.append(request.headers["authorization"])
        if len(seen) == 1:
            return Reply(403, body=b'{"reason":"ExpiredProviderToken"}')
        return Reply(200)

    _, url = await start_server(handler=answer)
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.outcome is Outcome.SENT
    assert len(seen) == 2
    assert seen[0] != seen[1]


async def test_persistently_expired_token_fails_after_one_renewal(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def answer(_: Request) -> Reply:
        return Reply(403, body=b'{"reason":"ExpiredProviderToken"}')

    server, url = await start_server(handler=answer)
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert (result.outcome, result.reason) == (Outcome.FAILED, "ExpiredProviderToken")
    assert len(server.requests) == 2


async def test_certificate_auth_sends_no_bearer(
    start_server: ServerFactory, tls: TlsMaterial
) -> None:
    server, url = await start_server(require_client_cert=True)
    client = ApnsClient(
        None,
        None,
        None,
        url,
        ca_file=tls.ca_file,
        client_cert_file=tls.client_cert,
        client_key_file=tls.client_key,
        outbound=LOCAL_OUTBOUND,
    )
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.sent
    assert "authorization" not in server.requests[0].headers


async def test_server_requiring_certificate_rejects_token_only_client(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    server, url = await start_server(require_client_cert=True)
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.outcome is Outcome.RETRY
    assert server.requests == []


async def test_untrusted_server_certificate_is_refused(
    start_server: ServerFactory, apns_key_pem: str
) -> None:
    server, url = await start_server()
    client = ApnsClient(
        TEAM, KEY_ID, apns_key_pem, url, outbound=LOCAL_OUTBOUND
    )  # system roots only
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.outcome is Outcome.RETRY
    assert "SSL" in (result.reason or "")
    assert server.requests == []


async def test_never_exceeds_max_concurrent_streams_on_one_connection(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def slow(_: Request) -> Reply:
        await asyncio.sleep(0.02)
        return Reply(200)

    server, url = await start_server(handler=slow, max_concurrent_streams=3)
    client = make_client(url, tls, apns_key_pem, max_connections=1)
    try:
        results = await asyncio.gather(*(client.send(TOKEN, HEADERS, PAYLOAD) for _ in range(30)))
    finally:
        await client.close()
    assert all(r.sent for r in results)
    assert len(server.connections) == 1
    assert server.peak_active_per_connection == 3


async def test_opens_more_connections_under_load_up_to_cap(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def slow(_: Request) -> Reply:
        await asyncio.sleep(0.02)
        return Reply(200)

    server, url = await start_server(handler=slow, max_concurrent_streams=2)
    client = make_client(url, tls, apns_key_pem, max_connections=3)
    try:
        results = await asyncio.gather(*(client.send(TOKEN, HEADERS, PAYLOAD) for _ in range(30)))
    finally:
        await client.close()
    assert all(r.sent for r in results)
    assert len(server.connections) == 3
    assert server.peak_active_per_connection == 2
    assert server.peak_active_total == 6


async def test_large_payload_respects_small_flow_control_window(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    payload = json.dumps({"aps": {"alert": "x" * 5000}}).encode()
    server, url = await start_server(initial_window=1000)
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, {**HEADERS, "apns-push-type": "voip"}, payload)
    finally:
        await client.close()
    assert result.sent
    assert server.requests[0].body == payload


async def test_goaway_resends_unprocessed_streams_on_new_connection(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def slow(_: Request) -> Reply:
        await asyncio.sleep(0.01)
        return Reply(200)

    server, url = await start_server(handler=slow, goaway_after=2)
    client = make_client(url, tls, apns_key_pem, max_connections=1)
    try:
        results = await asyncio.gather(*(client.send(TOKEN, HEADERS, PAYLOAD) for _ in range(10)))
    finally:
        await client.close()
    assert all(r.sent for r in results), results
    assert server.goaways_sent >= 4
    assert len(server.requests) == 10


async def test_connection_loss_reports_retry_then_reconnects(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def drop_first(request: Request) -> Reply:
        return Reply(abort=request.connection_index == 0)

    server, url = await start_server(handler=drop_first)
    client = make_client(url, tls, apns_key_pem)
    try:
        first = await client.send(TOKEN, HEADERS, PAYLOAD)
        second = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert first.outcome is Outcome.RETRY
    assert "ConnectionLost" in (first.reason or "")
    assert second.sent
    assert len(server.connections) == 2


async def test_request_timeout_reports_retry(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def silent_for_first(request: Request) -> Reply:
        return Reply(never=len(server.requests) == 1)

    server, url = await start_server(handler=silent_for_first)
    client = make_client(url, tls, apns_key_pem, request_timeout=0.5)
    try:
        first = await client.send(TOKEN, HEADERS, PAYLOAD)
        second = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert (first.outcome, first.reason) == (Outcome.RETRY, "timeout")
    assert second.sent
    assert len(server.connections) == 1


async def test_refused_connection_reports_retry(tls: TlsMaterial, apns_key_pem: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"https://127.0.0.1:{port}", tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.outcome is Outcome.RETRY


def test_requires_some_form_of_auth(tls: TlsMaterial) -> None:
    with pytest.raises(ValueError, match="client certificate"):
        ApnsClient(None, None, None, "https://127.0.0.1:1", ca_file=tls.ca_file)


def test_rejects_non_https_endpoint(apns_key_pem: str) -> None:
    with pytest.raises(ValueError, match="https"):
        ApnsClient(TEAM, KEY_ID, apns_key_pem, "http://127.0.0.1:1")


async def test_silent_connection_is_dropped_after_unanswered_ping(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    server, url = await start_server()
    client = make_client(url, tls, apns_key_pem, request_timeout=0.5, ping_timeout=0.2)
    try:
        assert (await client.send(TOKEN, HEADERS, PAYLOAD)).sent
        server.frozen_connections.add(0)
        (first_connection,) = client.pool.connections
        stuck = await client.send(TOKEN, HEADERS, PAYLOAD)
        await asyncio.wait_for(first_connection.wait_closed(), 5)
        recovered = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert (stuck.outcome, stuck.reason) == (Outcome.RETRY, "timeout")
    assert recovered.sent
    assert len(server.connections) == 2


async def test_answered_ping_keeps_connection_after_timeout(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    async def silent_for_first(request: Request) -> Reply:
        return Reply(never=len(server.requests) == 1)

    server, url = await start_server(handler=silent_for_first)
    client = make_client(url, tls, apns_key_pem, request_timeout=0.3, ping_timeout=0.2)
    try:
        assert (await client.send(TOKEN, HEADERS, PAYLOAD)).outcome is Outcome.RETRY
        await asyncio.sleep(0.4)  # longer than the PING timeout: the probe has concluded
        assert len(client.pool.connections) == 1
        assert (await client.send(TOKEN, HEADERS, PAYLOAD)).sent
    finally:
        await client.close()
    assert len(server.connections) == 1


async def test_connection_specific_header_fails_without_resending(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    server, url = await start_server()
    client = make_client(url, tls, apns_key_pem)
    try:
        bad = await client.send(TOKEN, {**HEADERS, "connection": "keep-alive"}, PAYLOAD)
        good = await client.send(TOKEN, {**HEADERS, "apns-priority": " 5 "}, PAYLOAD)
    finally:
        await client.close()
    assert bad.outcome is Outcome.FAILED
    assert good.sent
    assert len(server.requests) == 1
    assert server.requests[0].headers["apns-priority"] == "5"
    assert client.pool.connections_opened == 1


async def test_waiting_for_a_stream_is_bounded_by_queue_timeout(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def hold_first(request: Request) -> Reply:
        if len(server.requests) == 1:
            arrived.set()
            await release.wait()
        return Reply(200)

    server, url = await start_server(handler=hold_first, max_concurrent_streams=1)
    client = make_client(url, tls, apns_key_pem, max_connections=1, queue_timeout=0.3)
    try:
        first = asyncio.create_task(client.send(TOKEN, HEADERS, PAYLOAD))
        await arrived.wait()
        queued = await client.send(TOKEN, HEADERS, PAYLOAD)
        release.set()
        held = await first
        after = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert (queued.outcome, queued.reason) == (Outcome.RETRY, "queue_timeout")
    assert held.sent
    assert after.sent
    assert len(server.requests) == 2


async def test_server_without_h2_alpn_is_refused(
    start_server: ServerFactory, tls: TlsMaterial, apns_key_pem: str
) -> None:
    server, url = await start_server(alpn=["http/1.1"])
    client = make_client(url, tls, apns_key_pem)
    try:
        result = await client.send(TOKEN, HEADERS, PAYLOAD)
    finally:
        await client.close()
    assert result.outcome is Outcome.RETRY
    assert "ProtocolNegotiationError" in (result.reason or "")
    assert server.requests == []
