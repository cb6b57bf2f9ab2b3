"""Web Push transport (RFC 8030): encrypted payloads with VAPID to a subscription's endpoint."""

from __future__ import annotations

import re
import ssl
from typing import Any

import aiohttp

from clarion.providers.b64 import b64url_decode
from clarion.providers.http_session import LazySession
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.retry_after import parse_retry_after
from clarion.providers.vapid import VapidSigner, generate_vapid_keys
from clarion.providers.webpush_crypto import PayloadTooLargeError, encrypt

__all__ = ["WebPushClient", "generate_vapid_keys"]

URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _outcome_for(status: int) -> Outcome:
    if status in (200, 201, 202):
        return Outcome.SENT
    if status in (404, 410):
        return Outcome.INVALID_TOKEN
    if status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


class WebPushClient:
    """Sends to any push service with one VAPID identity."""

    def __init__(
        self,
        vapid_private_pem: str | bytes,
        subject: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        self._signer = VapidSigner(vapid_private_pem, subject)
        self._http = LazySession(
            ssl_context,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
        )

    @property
    def public_key(self) -> str:
        """The application server key subscriptions must have been created with."""
        return self._signer.public_key

    async def send(
        self,
        subscription: dict[str, Any],
        payload: bytes,
        ttl: int,
        urgency: str | None = None,
        topic: str | None = None,
    ) -> DeliveryResult:
        """Encrypt `payload` for the subscription and post it; transport failures become `retry`."""
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        if urgency is not None and urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {sorted(URGENCIES)}")
        if topic is not None and not _TOPIC.match(topic):
            raise ValueError("topic must be 1-32 characters of the URL-safe base64 alphabet")
        try:
            endpoint = str(subscription["endpoint"])
            keys = subscription["keys"]
            receiver_key = b64url_decode(str(keys["p256dh"]))
            auth_secret = b64url_decode(str(keys["auth"]))
            authorization = self._signer.authorization(endpoint)
        except (KeyError, TypeError, ValueError):
            # Keys that are not a P-256 point and a 16-byte secret can never be pushed to.
            return DeliveryResult(Outcome.INVALID_TOKEN, reason="InvalidSubscription")
        try:
            body = encrypt(payload, receiver_key, auth_secret)
        except PayloadTooLargeError:
            return DeliveryResult(Outcome.FAILED, reason="PayloadTooLarge")
        except ValueError:
            return DeliveryResult(Outcome.INVALID_TOKEN, reason="InvalidSubscription")
        headers = {
            "Authorization": authorization,
            "TTL": str(ttl),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        if urgency is not None:
            headers["Urgency"] = urgency
        if topic is not None:
            headers["Topic"] = topic
        try:
            return await self._post(endpoint, headers, body)
        except TimeoutError:
            return DeliveryResult.transport_error("timeout")
        except (aiohttp.ClientError, OSError) as error:
            return DeliveryResult.transport_error(f"{type(error).__name__}: {error}")

    async def _post(self, endpoint: str, headers: dict[str, str], body: bytes) -> DeliveryResult:
        session = self._http.get()
        async with session.post(endpoint, data=body, headers=headers) as response:
            text = (await response.read())[:200].decode("utf-8", "replace")
            outcome = _outcome_for(response.status)
            return DeliveryResult(
                outcome,
                status=response.status,
                reason=None if outcome is Outcome.SENT else (text or response.reason),
                provider_message_id=response.headers.get("Location"),
                retry_after=(
                    parse_retry_after(response.headers.get("Retry-After"))
                    if outcome is Outcome.RETRY
                    else None
                ),
            )

    async def close(self) -> None:
        """Close pooled connections."""
        await self._http.close()
