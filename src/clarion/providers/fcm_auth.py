"""OAuth2 access tokens for FCM from a service account (JWT bearer grant, RFC 7523)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from clarion.providers.outbound import STRICT, OutboundPolicy

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
# Refresh this long before expiry so a token never dies in flight.
EXPIRY_MARGIN_SECONDS = 300.0
ASSERTION_LIFETIME_SECONDS = 3600
# RFC 6749 error codes are short ASCII words; anything else is not an OAuth error to quote.
_OAUTH_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TokenEndpointError(Exception):
    """The token endpoint refused or failed; `retryable` tells which."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The parts of a Google service-account JSON file the token exchange needs."""

    project_id: str
    client_email: str
    private_key_pem: str
    private_key_id: str | None
    token_uri: str

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ServiceAccount:
        """Validate and pick the fields out of a parsed service-account JSON."""
        missing = [k for k in ("project_id", "client_email", "private_key") if not document.get(k)]
        if missing:
            raise ValueError(f"service account lacks {', '.join(missing)}")
        return cls(
            project_id=str(document["project_id"]),
            client_email=str(document["client_email"]),
            private_key_pem=str(document["private_key"]),
            private_key_id=(
                str(document["private_key_id"]) if document.get("private_key_id") else None
            ),
            token_uri=str(document.get("token_uri") or DEFAULT_TOKEN_URI),
        )


class AccessTokenSource:
    """Caches one access token and fetches a new one shortly before it expires."""

    def __init__(
        self,
        account: ServiceAccount,
        *,
        clock: Callable[[], float] = time.time,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self._account = account
        self._outbound = outbound
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def signed_assertion(self) -> str:
        """The RS256 JWT presented to the token endpoint."""
        now = int(self._clock())
        headers = {"kid": self._account.private_key_id} if self._account.private_key_id else None
        return jwt.encode(
            {
                "iss": self._account.client_email,
                "scope": FCM_SCOPE,
                "aud": self._account.token_uri,
                "iat": now,
                "exp": now + ASSERTION_LIFETIME_SECONDS,
            },
            self._account.private_key_pem,
            algorithm="RS256",
            headers=headers,
        )

    async def current(self, session: aiohttp.ClientSession) -> str:
        """A valid access token; concurrent callers share one fetch."""
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                await self._fetch(session)
            assert self._token is not None
            return self._token

    async def refresh(self, session: aiohttp.ClientSession, rejected: str) -> str:
        """Replace a token the API refused, unless another caller already did."""
        async with self._lock:
            if self._token == rejected or self._token is None:
                await self._fetch(session)
            assert self._token is not None
            return self._token

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        self._outbound.check_url(self._account.token_uri)
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self.signed_assertion()}
        async with session.post(
            self._account.token_uri, data=form, allow_redirects=False
        ) as response:
            status = response.status
            raw = await response.read()
        if status != 200:
            raise TokenEndpointError(
                _refusal_text(status, raw),
                status=status,
                retryable=status == 429 or status >= 500,
            )
        try:
            document = json.loads(raw)
            token = str(document["access_token"])
            lifetime = float(document.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as error:
            # The body is not quoted: the token URI may not be Google's.
            raise TokenEndpointError(
                "token endpoint answered 200 without an access token", status=200, retryable=True
            ) from error
        self._token = token
        self._expires_at = self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)


def _refusal_text(status: int, raw: bytes) -> str:
    """What a refusal says: the status, plus the OAuth error code when the body is one."""
    if 300 <= status < 400:
        return f"token endpoint answered {status}; redirects are not followed"
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    code = document.get("error") if isinstance(document, dict) else None
    if isinstance(code, str) and _OAUTH_ERROR_CODE.match(code):
        return f"token endpoint answered {status}: {code}"
    return f"token endpoint answered {status}"
