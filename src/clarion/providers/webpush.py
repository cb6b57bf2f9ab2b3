"""Web Push transport (RFC 8030): encrypted payloads with VAPID to a subscription's endpoint."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import aiohttp

from clarion.domain.limits import BuiltPayload
from clarion.domain.message import MAX_TTL_SECONDS
from clarion.providers.b64 import b64url_decode
from clarion.providers.http_session import LazySession
from clarion.providers.outbound import STRICT, OutboundPolicy, OutboundRefused
from clarion.providers.outbound_http import refusal_in
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.retry_after import parse_retry_after
from clarion.providers.transport import Address, deliver_each
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


# Push services' error bodies differ and the endpoint is the tenant's choice:
# nothing of the answer but its status is recorded.
def _reason(status: int) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}; redirects are not followed"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


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
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self._signer = VapidSigner(vapid_private_pem, subject)
        self._outbound = outbound
        self._http = LazySession(
            ssl_context,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
            outbound=outbound,
        )

    @property
    def public_key(self) -> str:
        """The application server key subscriptions must have been created with."""
        return self._signer.public_key

    async def deliver_many(
        self, items: Sequence[tuple[Address, BuiltPayload]]
    ) -> list[DeliveryResult | Exception]:
        """Send a batch as concurrent single requests."""
        return await deliver_each(self, items)

    async def deliver(self, address: Address, payload: BuiltPayload) -> DeliveryResult:
        """Encrypt a built request for the device's subscription and post it."""
        if address.subscription is None:
            return DeliveryResult(Outcome.INVALID_TOKEN, reason="InvalidSubscription")
        headers = payload.headers
        return await self.send(
            address.subscription,
            payload.body,
            int(headers.get("TTL", MAX_TTL_SECONDS)),
            headers.get("Urgency"),
            headers.get("Topic"),
        )

    async def send(
        self,
        subscription: Mapping[str, Any],
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
            self._outbound.check_url(endpoint)
            return await self._post(endpoint, headers, body)
        except OutboundRefused as error:
            return DeliveryResult(Outcome.FAILED, reason=str(error))
        except TimeoutError:
            return DeliveryResult.transport_error("timeout")
        except (aiohttp.ClientError, OSError) as error:
            refusal = refusal_in(error)
            if refusal is not None:
                return DeliveryResult(Outcome.FAILED, reason=str(refusal))
            return DeliveryResult.transport_error(f"{type(error).__name__}: {error}")

    async def _post(self, endpoint: str, headers: dict[str, str], body: bytes) -> DeliveryResult:
        session = self._http.get()
        async with session.post(
            endpoint, data=body, headers=headers, allow_redirects=False
        ) as response:
            outcome = _outcome_for(response.status)
            return DeliveryResult(
                outcome,
                status=response.status,
                reason=None if outcome is Outcome.SENT else _reason(response.status),
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
