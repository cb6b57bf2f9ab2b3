"""SMS transport: a JSON HTTP gateway taking {to, from, body} and answering 201 {id, status}."""

from __future__ import annotations

import json
import ssl

import aiohttp

from clarion.providers.http_session import LazySession
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.retry_after import parse_retry_after

# Gateway error codes meaning the number itself can never receive messages.
UNUSABLE_NUMBER_CODES = frozenset({"INVALID_NUMBER", "UNREACHABLE"})


class SmsClient:
    """Sends text messages through one HTTP SMS gateway."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        path: str = "/sms",
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_connections: int = 20,
    ) -> None:
        self._url = base_url.rstrip("/") + path
        self._api_key = api_key
        self._http = LazySession(
            ssl_context,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
        )

    async def send(self, to: str, sender: str, body: str) -> DeliveryResult:
        """Submit one SMS; a number the gateway calls invalid or unreachable is `invalid_token`."""
        headers = {"Content-Type": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key}"
        document = json.dumps({"to": to, "from": sender, "body": body}).encode()
        try:
            session = self._http.get()
            async with session.post(self._url, data=document, headers=headers) as response:
                raw = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            return DeliveryResult.transport_error("timeout")
        except (aiohttp.ClientError, OSError) as error:
            return DeliveryResult.transport_error(f"{type(error).__name__}: {error}")
        return _result(status, raw, retry_after)

    async def close(self) -> None:
        """Close pooled connections."""
        await self._http.close()


def _result(status: int, raw: bytes, retry_after: float | None) -> DeliveryResult:
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    if 200 <= status < 300:
        message_id = document.get("id")
        return DeliveryResult(
            Outcome.SENT,
            status=status,
            reason=str(document["status"]) if document.get("status") else None,
            provider_message_id=str(message_id) if message_id is not None else None,
        )
    reason = _error_reason(document) or raw[:200].decode("utf-8", "replace") or None
    if status == 429 or status >= 500:
        return DeliveryResult(Outcome.RETRY, status=status, reason=reason, retry_after=retry_after)
    if reason in UNUSABLE_NUMBER_CODES:
        return DeliveryResult(Outcome.INVALID_TOKEN, status=status, reason=reason)
    return DeliveryResult(Outcome.FAILED, status=status, reason=reason)


def _error_reason(document: dict[str, object]) -> str | None:
    error = document.get("error")
    if isinstance(error, dict):
        for key in ("code", "message"):
            if isinstance(error.get(key), str):
                return str(error[key])
    if isinstance(error, str):
        return error
    detail = document.get("detail")
    return detail if isinstance(detail, str) else None
