"""Provider URLs a tenant chooses never make the server reach its own network.

Each test points a URL at a listener on the loopback interface and proves the
listener never saw a connection: at the API (400, field named) and again when
the provider is called.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from clarion.emulators.tls import TlsFiles, ensure_tls_files
from clarion.providers.apns import ApnsClient
from clarion.providers.fcm import FcmClient
from clarion.providers.outbound import STRICT, OutboundPolicy
from clarion.providers.result import Outcome
from clarion.providers.webpush import WebPushClient, generate_vapid_keys
from tests.conftest import Project, error_of
from tests.keys_for_tests import browser_subscription, p8_key, service_account
from tests.providers.h2_server import H2TestServer, Reply, Request
from tests.security.outbound_support import http_reply, listening

REFUSED = "refused by the outbound policy"
SECRET = b"internal-secret-7f3a <html>admin console</html>"
MESSAGE = {"token": "device-token", "notification": {"title": "t", "body": "b"}}
TOKEN_ANSWER = http_reply(200, {"Content-Type": "application/json"}, b'{"access_token": "at"}')


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a certificate for 127.0.0.1, ::1 and localhost."""
    return ensure_tls_files(tmp_path_factory.mktemp("tls"))


def account(token_uri: str) -> dict[str, Any]:
    """A service account whose token URI is `token_uri`."""
    return {**service_account(), "token_uri": token_uri}


def fcm(token_uri: str, endpoint: str, tls: TlsFiles, outbound: OutboundPolicy) -> FcmClient:
    """An FCM client trusting the test CA."""
    return FcmClient(
        account(token_uri), endpoint, ssl_context=tls.client_context(), outbound=outbound
    )


def webpush(tls: TlsFiles, outbound: OutboundPolicy) -> WebPushClient:
    """A Web Push client trusting the test CA."""
    private_pem, _ = generate_vapid_keys()
    return WebPushClient(
        private_pem, "mailto:ops@example.com", ssl_context=tls.client_context(), outbound=outbound
    )


async def test_api_refuses_internal_urls_naming_the_field(
    client: httpx.AsyncClient, project: Project, tls: TlsFiles
) -> None:
    async with listening(tls) as listener:
        local = f"https://127.0.0.1:{listener.port}"
        app_id = f"{project.id}-app"
        created = await client.post(
            "/v1/apps", json={"id": app_id, "name": "a"}, headers=project.headers
        )
        assert created.status_code == 201
        apns = {"team_id": "ABCDE12345", "key_id": "KEY1234567", "private_key": p8_key()}
        apns["topic"] = "com.example.app"
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("fcm", {"service_account": account(f"http://127.0.0.1:{listener.port}/t")},
             "service_account.token_uri"),
            ("fcm", {"service_account": account(f"{local}/t")}, "service_account.token_uri"),
            ("fcm", {"service_account": service_account(), "token_uri": f"{local}/t"},
             "token_uri"),
            ("fcm", {"service_account": service_account(), "endpoint": local}, "endpoint"),
            ("apns", {**apns, "endpoint": local}, "endpoint"),
            ("apns", {**apns, "endpoint": f"https://localhost:{listener.port}"}, "endpoint"),
            ("apns", {**apns, "endpoint": f"https://[::ffff:127.0.0.1]:{listener.port}"},
             "endpoint"),
            ("apns", {**apns, "endpoint": "https://169.254.169.254"}, "endpoint"),
            ("apns", {**apns, "endpoint": "https://10.1.2.3"}, "endpoint"),
            ("apns", {**apns, "endpoint": "https://[fd00:ec2::254]"}, "endpoint"),
        ]  # fmt: skip
        for provider, body, field in cases:
            response = await client.put(
                f"/v1/apps/{app_id}/providers/{provider}", json=body, headers=project.headers
            )
            assert response.status_code == 400, (body, response.text)
            error = error_of(response)
            assert (error["code"], error["field"]) == ("MALFORMED_PARAMETER", field)
            assert REFUSED in error["message"] and "CLARION_OUTBOUND_ALLOWLIST" in error["message"]
        web = {"platform": "web", "subscription": browser_subscription(f"{local}/push/1")}
        response = await client.put(
            f"/v1/apps/{app_id}/installations/b1", json=web, headers=project.headers
        )
        assert response.status_code == 400, response.text
        assert error_of(response)["field"] == "subscription.endpoint"
        assert listener.connections == 0


async def test_fcm_token_uri_on_loopback_is_refused_at_call_time(tls: TlsFiles) -> None:
    async with (
        listening(tls, TOKEN_ANSWER) as token_server,
        listening(tls, http_reply(200, body=b'{"name": "m"}'), host="::1") as fcm_server,
    ):
        # Only the FCM endpoint (on ::1) is opened: the token URI must still be refused,
        # and plain http is refused even on an opened host.
        endpoint = f"https://[::1]:{fcm_server.port}"
        opened = OutboundPolicy.parse("::1")
        port = token_server.port
        for token_uri, policy in (
            (f"http://127.0.0.1:{port}/token", opened),
            (f"https://127.0.0.1:{port}/token", opened),
            (f"http://127.0.0.1:{port}/token", OutboundPolicy.parse("127.0.0.1,::1")),
        ):
            client = fcm(token_uri, endpoint, tls, policy)
            try:
                result = await client.send(MESSAGE)
            finally:
                await client.close()
            assert result.outcome is Outcome.FAILED and REFUSED in (result.reason or "")
        assert (token_server.connections, fcm_server.connections) == (0, 0)


async def test_fcm_endpoint_override_on_loopback_is_refused(tls: TlsFiles) -> None:
    async with (
        listening(tls, TOKEN_ANSWER, host="::1") as token_server,
        listening(tls, http_reply(200, body=b'{"name": "m"}')) as fcm_server,
    ):
        client = fcm(
            f"https://[::1]:{token_server.port}/token",
            f"https://127.0.0.1:{fcm_server.port}",
            tls,
            OutboundPolicy.parse("::1"),
        )
        try:
            result = await client.send(MESSAGE)
        finally:
            await client.close()
        assert result.outcome is Outcome.FAILED and REFUSED in (result.reason or "")
        assert fcm_server.connections == 0


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost", "[::1]", "2130706433"]
)
async def test_apns_endpoint_override_on_loopback_is_refused(tls: TlsFiles, host: str) -> None:
    async with listening(tls) as v4, listening(tls, host="::1") as v6:
        port = v6.port if host == "[::1]" else v4.port
        client = ApnsClient(
            "ABCDE12345", "KEY1234567", p8_key(), f"https://{host}:{port}",
            ca_file=tls.ca_file, outbound=STRICT,
        )  # fmt: skip
        try:
            result = await client.send("ab" * 32, {"apns-topic": "t"}, b"{}")
        finally:
            await client.close()
        assert result.outcome is Outcome.FAILED and REFUSED in (result.reason or ""), result
        assert (v4.connections, v6.connections) == (0, 0)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1:{port}/push",
        "https://[::ffff:127.0.0.1]:{port}/push",
        "https://localhost:{port}/push",
        "http://127.0.0.1:{port}/push",
    ],
)
async def test_webpush_endpoint_on_loopback_is_refused(tls: TlsFiles, endpoint: str) -> None:
    async with listening(tls, http_reply(201)) as listener:
        client = webpush(tls, STRICT)
        subscription = browser_subscription(endpoint.format(port=listener.port))
        try:
            result = await client.send(subscription, b"{}", ttl=60)
        finally:
            await client.close()
        assert result.outcome is Outcome.FAILED and REFUSED in (result.reason or "")
        assert listener.connections == 0


async def test_webpush_redirect_to_an_internal_url_is_not_followed(tls: TlsFiles) -> None:
    async with listening(tls, http_reply(200), host="::1") as internal:
        redirect = http_reply(302, {"Location": f"http://[::1]:{internal.port}/admin"})
        async with listening(tls, redirect) as push_service:
            # The allowlist opens the push service only, not where it redirects to.
            client = webpush(tls, OutboundPolicy.parse("127.0.0.1"))
            subscription = browser_subscription(f"https://127.0.0.1:{push_service.port}/push")
            try:
                result = await client.send(subscription, b"{}", ttl=60)
            finally:
                await client.close()
    assert push_service.requests == ["POST /push HTTP/1.1"]
    assert (result.outcome, result.status) == (Outcome.FAILED, 302)
    assert "redirects are not followed" in (result.reason or "")
    assert internal.connections == 0


async def test_foreign_error_bodies_are_not_echoed(tls: TlsFiles) -> None:
    opened = OutboundPolicy.parse("127.0.0.1")
    async with listening(tls, http_reply(400, {"Content-Type": "text/html"}, SECRET)) as foreign:
        base = f"https://127.0.0.1:{foreign.port}"
        client = webpush(tls, opened)
        try:
            pushed = await client.send(browser_subscription(f"{base}/push"), b"{}", ttl=60)
        finally:
            await client.close()
        token_refused = fcm(f"{base}/token", base, tls, opened)
        try:
            refused = await token_refused.send(MESSAGE)
        finally:
            await token_refused.close()
        async with listening(tls, TOKEN_ANSWER) as token_server:
            sender = fcm(f"https://127.0.0.1:{token_server.port}/token", base, tls, opened)
            try:
                sent = await sender.send(MESSAGE)
            finally:
                await sender.close()

        async def answer(_: Request) -> Reply:
            return Reply(400, body=SECRET)

        apns_server = H2TestServer(tls.server_context(["h2"]), answer)
        apns_url = await apns_server.start()
        apns = ApnsClient(
            "ABCDE12345", "KEY1234567", p8_key(), apns_url, ca_file=tls.ca_file, outbound=opened
        )
        try:
            apns_result = await apns.send("ab" * 32, {"apns-topic": "t"}, b"{}")
        finally:
            await apns.close()
            await apns_server.stop()
    assert (pushed.status, pushed.reason) == (400, "Bad Request")
    assert (refused.outcome, refused.reason) == (
        Outcome.FAILED,
        "oauth: token endpoint answered 400",
    )
    assert (sent.status, sent.reason) == (400, None)
    assert (apns_result.status, apns_result.reason) == (400, None)
    shown = json.dumps([pushed.reason, refused.reason, sent.reason, apns_result.reason])
    assert "internal-secret" not in shown and "admin console" not in shown


async def test_allowlisted_range_is_reached(tls: TlsFiles) -> None:
    async with listening(tls, http_reply(201, {"Location": "/m/1"})) as push_service:
        client = webpush(tls, OutboundPolicy.parse("127.0.0.0/8"))
        subscription = browser_subscription(f"https://127.0.0.1:{push_service.port}/push")
        try:
            result = await client.send(subscription, b"{}", ttl=60)
        finally:
            await client.close()
    assert result.outcome is Outcome.SENT
    assert push_service.requests == ["POST /push HTTP/1.1"]
