"""FCM HTTP v1 transport: one message per request, OAuth2 token cached and refreshed."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Sequence
from typing import Any

import aiohttp

from clarion.domain.limits import BuiltPayload
from clarion.providers.fcm_auth import AccessTokenSource, ServiceAccount, TokenEndpointError
from clarion.providers.fcm_errors import outcome_for, parse_error
from clarion.providers.http_session import LazySession
from clarion.providers.outbound import STRICT, OutboundPolicy, OutboundRefused
from clarion.providers.outbound_http import refusal_in
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.retry_after import parse_retry_after
from clarion.providers.transport import Address, deliver_each

DEFAULT_ENDPOINT = "https://fcm.googleapis.com"
# FCM error codes and statuses are upper-case words; other text is not quoted back.
_FCM_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class FcmClient:
    """Sends messages for one Firebase project with one service account."""

    def __init__(
        self,
        service_account: dict[str, Any],
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        ssl_context: ssl.SSLContext | None = None,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_connections: int = 100,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self._account = ServiceAccount.from_json(service_account)
        self._outbound = outbound
        self._tokens = AccessTokenSource(self._account, outbound=outbound)
        self._url = f"{endpoint.rstrip('/')}/v1/projects/{self._account.project_id}/messages:send"
        self._http = LazySession(
            ssl_context,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
            outbound=outbound,
        )

    @property
    def project_id(self) -> str:
        """The Firebase project messages are sent for."""
        return self._account.project_id

    async def deliver_many(
        self, items: Sequence[tuple[Address, BuiltPayload]]
    ) -> list[DeliveryResult | Exception]:
        """Send a batch as concurrent single requests."""
        return await deliver_each(self, items)

    async def deliver(self, address: Address, payload: BuiltPayload) -> DeliveryResult:
        """Send a built request as is (its body already names the device's token)."""
        return await self.send_body(payload.body)

    async def send(self, message: dict[str, Any]) -> DeliveryResult:
        """Deliver one message (the v1 `message` object); never raises for transport failures."""
        return await self.send_body(json.dumps({"message": message}).encode())

    async def send_body(self, body: bytes) -> DeliveryResult:
        """Deliver one serialized v1 request body; never raises for transport failures."""
        session = self._http.get()
        try:
            self._outbound.check_url(self._url)
            token = await self._tokens.current(session)
            result = await self._post(session, body, token)
            if result.status == 401 and result.reason != "THIRD_PARTY_AUTH_ERROR":
                # Our token may have been revoked early; one fresh token, then give up.
                token = await self._tokens.refresh(session, token)
                result = await self._post(session, body, token)
            return result
        except TokenEndpointError as error:
            outcome = Outcome.RETRY if error.retryable else Outcome.FAILED
            return DeliveryResult(outcome, status=error.status, reason=f"oauth: {error}")
        except OutboundRefused as error:
            return DeliveryResult(Outcome.FAILED, reason=str(error))
        except TimeoutError:
            return DeliveryResult.transport_error("timeout")
        except (aiohttp.ClientError, OSError) as error:
            refusal = refusal_in(error)
            if refusal is not None:
                return DeliveryResult(Outcome.FAILED, reason=str(refusal))
            return DeliveryResult.transport_error(f"{type(error).__name__}: {error}")

    async def _post(
        self, session: aiohttp.ClientSession, body: bytes, token: str
    ) -> DeliveryResult:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with session.post(
            self._url, data=body, headers=headers, allow_redirects=False
        ) as response:
            raw = await response.read()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            status = response.status
        document = _json_or_none(raw)
        if 200 <= status < 300:
            name = document.get("name") if isinstance(document, dict) else None
            return DeliveryResult(
                Outcome.SENT, status=status, provider_message_id=str(name) if name else None
            )
        if 300 <= status < 400:
            return DeliveryResult(
                Outcome.FAILED, status=status, reason=f"HTTP {status}; redirects are not followed"
            )
        error = parse_error(document)
        outcome = outcome_for(status, error)
        # Only an FCM error code is quoted: the endpoint may not be Google's.
        reason = error.reason if error.reason and _FCM_CODE.match(error.reason) else None
        return DeliveryResult(
            outcome,
            status=status,
            reason=reason,
            retry_after=retry_after if outcome is Outcome.RETRY else None,
        )

    async def close(self) -> None:
        """Close pooled connections."""
        await self._http.close()


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
