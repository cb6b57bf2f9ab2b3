"""Shared test tools: APNs requests over a bare HTTP/2 probe, provider tokens, HTTPS clients."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import jwt

from clarion.emulators.probe import H2Probe, ProbeResponse
from clarion.emulators.suite import EmulatorSuite

TEAM_ID = "TEAM000001"
KEY_ID = "KEY0000001"
TOPIC = "com.example.app"
TOKEN = "ab" * 32


def provider_token(
    pem: str, team_id: str = TEAM_ID, key_id: str = KEY_ID, iat: float | None = None
) -> str:
    """An ES256 provider token as APNs clients make them."""
    issued = int(time.time() if iat is None else iat)
    return jwt.encode(
        {"iss": team_id, "iat": issued}, pem, algorithm="ES256", headers={"kid": key_id}
    )


def apns_headers(
    jwt_token: str | None,
    token: str = TOKEN,
    topic: str | None = TOPIC,
    method: str = "POST",
    path: str | None = None,
    **extra: str,
) -> list[tuple[str, str]]:
    """Request headers for a push; `extra` uses underscores for dashes (apns_id=...)."""
    headers = [
        (":method", method),
        (":scheme", "https"),
        (":authority", "api.push.apple.com"),
        (":path", path if path is not None else f"/3/device/{token}"),
    ]
    if jwt_token is not None:
        headers.append(("authorization", f"bearer {jwt_token}"))
    if topic is not None:
        headers.append(("apns-topic", topic))
    headers += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return headers


ALERT = json.dumps({"aps": {"alert": {"title": "Hello", "body": "World"}}}).encode()


async def connect_apns(suite: EmulatorSuite) -> H2Probe:
    """A probe connected to the APNs emulator, trusting the suite CA."""
    return await H2Probe.connect("127.0.0.1", suite.apns.port, suite.tls.client_context())


def reason_of(response: ProbeResponse) -> Any:
    """The `reason` field of an APNs error body."""
    return json.loads(bytes(response.body))["reason"]


def https_client(suite: EmulatorSuite) -> aiohttp.ClientSession:
    """An aiohttp client that trusts the suite CA and nothing else."""
    connector = aiohttp.TCPConnector(ssl=suite.tls.client_context())
    return aiohttp.ClientSession(connector=connector)


SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
PROJECT = "demo-project"
DEVICE = "fcm-token-abcdefghijklmnopqrstuvwxyz:APA91b0123456789"


def assertion(account: dict[str, str], **overrides: Any) -> str:
    """A service-account JWT as Google's client libraries sign it."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": account["client_email"],
        "scope": SCOPE,
        "aud": account["token_uri"],
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return jwt.encode(
        claims,
        account["private_key"],
        algorithm="RS256",
        headers={"kid": account["private_key_id"]},
    )


async def fetch_token(
    http: aiohttp.ClientSession, account: dict[str, str], signed: str
) -> tuple[int, Any]:
    """POST the JWT bearer grant to the account's token_uri."""
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": signed}
    async with http.post(account["token_uri"], data=form) as reply:
        return reply.status, await reply.json()


async def fcm_send(
    http: aiohttp.ClientSession,
    suite: EmulatorSuite,
    access: str,
    body: Any,
    project: str = PROJECT,
) -> tuple[int, Any, dict[str, str]]:
    """POST a messages:send request."""
    url = f"{suite.fcm.url}/v1/projects/{project}/messages:send"
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {access}"}) as reply:
        return reply.status, await reply.json(), dict(reply.headers)
