"""APNs transport: HTTP/2 requests to Apple or a compatible server, token or certificate auth."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

from clarion.domain.limits import BuiltPayload
from clarion.providers.apns_jwt import ProviderTokenSource
from clarion.providers.apns_reasons import outcome_for
from clarion.providers.h2_batch import BatchAnswer, BatchRequest
from clarion.providers.h2_connection import PING_TIMEOUT_SECONDS, Http2Response
from clarion.providers.h2_errors import Http2Error, InvalidRequestError, QueueTimeoutError
from clarion.providers.h2_headers import CleanHeaders, clean_headers
from clarion.providers.h2_pool import Http2Pool
from clarion.providers.outbound import STRICT, OutboundPolicy, OutboundRefused
from clarion.providers.result import DeliveryResult, Outcome
from clarion.providers.retry_after import parse_retry_after
from clarion.providers.tls import client_ssl_context
from clarion.providers.transport import Address

PRODUCTION_ENDPOINT = "https://api.push.apple.com"
SANDBOX_ENDPOINT = "https://api.sandbox.push.apple.com"
#: Distinct header sets kept checked and encoded (a send has one per language, topic...).
CHECKED_HEADER_SETS = 64
# APNs reasons are CamelCase words; other text is not quoted back.
_APNS_REASON = re.compile(r"^[A-Za-z]{1,64}$")


class ApnsClient:
    """Sends notifications to one APNs endpoint for one team (token auth) or one certificate."""

    def __init__(
        self,
        team_id: str | None,
        key_id: str | None,
        private_key_pem: str | bytes | None,
        endpoint: str = PRODUCTION_ENDPOINT,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: Path | str | None = None,
        client_cert_file: Path | str | None = None,
        client_key_file: Path | str | None = None,
        max_connections: int = 4,
        request_timeout: float = 10.0,
        queue_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        ping_timeout: float = PING_TIMEOUT_SECONDS,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        token_auth = team_id is not None and key_id is not None and private_key_pem is not None
        if not token_auth and client_cert_file is None and ssl_context is None:
            raise ValueError(
                "give team_id, key_id and private_key_pem, or a client certificate "
                "(as files or loaded into ssl_context)"
            )
        self._tokens = (
            ProviderTokenSource(team_id, key_id, private_key_pem)
            if team_id is not None and key_id is not None and private_key_pem is not None
            else None
        )
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"APNs endpoint must be an https URL, got {endpoint!r}")
        if ssl_context is None:
            ssl_context = client_ssl_context(
                ca_file, cert_file=client_cert_file, key_file=client_key_file
            )
        # ALPN must offer h2 whatever context the caller built.
        ssl_context.set_alpn_protocols(["h2"])
        # The last header set sent, checked and encoded: a batch sends one set many times.
        self._last_headers: tuple[dict[str, str], str | None, CleanHeaders] | None = None
        self._checked: dict[tuple[tuple[tuple[str, str], ...], str | None], CleanHeaders] = {}
        self._request_timeout = request_timeout
        self._queue_timeout = queue_timeout
        self._pool = Http2Pool(
            parts.hostname,
            parts.port or 443,
            ssl_context,
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            ping_timeout=ping_timeout,
            outbound=outbound,
        )

    @property
    def pool(self) -> Http2Pool:
        """The underlying connection pool (for metrics and tests)."""
        return self._pool

    async def deliver(self, address: Address, payload: BuiltPayload) -> DeliveryResult:
        """Send a built request to the device's token."""
        if not address.token:
            return DeliveryResult(Outcome.FAILED, reason="MissingDeviceToken")
        return await self.send(address.token, payload.headers, payload.body)

    async def deliver_many(
        self, items: Sequence[tuple[Address, BuiltPayload]]
    ) -> list[DeliveryResult | Exception]:
        """Send a batch of built requests as one unit through the pool."""
        missing = DeliveryResult(Outcome.FAILED, reason="MissingDeviceToken")
        # Every sendable entry is overwritten with its answer; the others keep `missing`.
        results: list[DeliveryResult | Exception] = [missing] * len(items)
        bearer = self._tokens.current() if self._tokens else None
        sendable = [
            (index, _device_path(address.token), payload)
            for index, (address, payload) in enumerate(items)
            if address.token
        ]
        stale = await self._post_many(sendable, bearer, results)
        if stale and self._tokens is not None and bearer is not None:
            # One fresh token is all a stale one deserves; a second refusal is permanent.
            await self._post_many(stale, self._tokens.renew(bearer), results)
        return results

    async def _post_many(
        self,
        sendable: list[tuple[int, str, BuiltPayload]],
        bearer: str | None,
        results: list[DeliveryResult | Exception],
    ) -> list[tuple[int, str, BuiltPayload]]:
        """Post `sendable` into `results`; returns those refused for a stale provider token."""
        requests: list[BatchRequest] = []
        posted: list[tuple[int, str, BuiltPayload]] = []
        for entry in sendable:
            index, path, payload = entry
            try:
                headers = self._request_headers(payload.headers, bearer)
            except InvalidRequestError as error:
                results[index] = DeliveryResult(Outcome.FAILED, reason=str(error))
                continue
            requests.append((path, headers, payload.body))
            posted.append(entry)
        if len({id(headers) for _, headers, _ in requests}) > 1:
            # Requests sharing headers go together: a connection then enters each set
            # into its table once, not once per change of set.
            order = sorted(range(len(requests)), key=lambda i: id(requests[i][1]))
            requests = [requests[i] for i in order]
            posted = [posted[i] for i in order]
        answers = await self._pool.request_many(
            "POST",
            requests,
            attempt_timeout=self._request_timeout,
            queue_timeout=self._queue_timeout,
        )
        stale: list[tuple[int, str, BuiltPayload]] = []
        for entry, answer in zip(posted, answers, strict=True):
            result = _answer_result(answer)
            if isinstance(result, DeliveryResult) and result.reason == "ExpiredProviderToken":
                stale.append(entry)
            results[entry[0]] = result
        return stale

    async def send(self, token: str, headers: dict[str, str], payload: bytes) -> DeliveryResult:
        """Deliver one notification; transport failures come back as `retry`, never raise."""
        path = _device_path(token)
        try:
            return await self._send_with_auth(path, headers, payload)
        except QueueTimeoutError:
            return DeliveryResult.transport_error("queue_timeout")
        except TimeoutError:
            return DeliveryResult.transport_error("timeout")
        except (InvalidRequestError, OutboundRefused) as error:
            return DeliveryResult(Outcome.FAILED, reason=str(error))
        except (Http2Error, OSError) as error:
            # ssl.SSLError is an OSError: handshake failures are retried like resets.
            return DeliveryResult.transport_error(f"{type(error).__name__}: {error}")

    async def _send_with_auth(
        self, path: str, headers: dict[str, str], payload: bytes
    ) -> DeliveryResult:
        bearer = self._tokens.current() if self._tokens else None
        result = await self._post(path, headers, payload, bearer)
        stale = result.reason == "ExpiredProviderToken"
        if stale and self._tokens is not None and bearer is not None:
            # One fresh token is all a stale one deserves; a second refusal is permanent.
            result = await self._post(path, headers, payload, self._tokens.renew(bearer))
        return result

    async def _post(
        self, path: str, headers: dict[str, str], payload: bytes, bearer: str | None
    ) -> DeliveryResult:
        response = await self._pool.request(
            "POST",
            path,
            self._request_headers(headers, bearer),
            payload,
            attempt_timeout=self._request_timeout,
            queue_timeout=self._queue_timeout,
        )
        return _result_from(response)

    def _request_headers(self, headers: dict[str, str], bearer: str | None) -> CleanHeaders:
        """The request's headers with authorization, checked once per distinct set.

        Equal sets come back as the same object, which is what lets a connection send
        them as the table indexes it entered them under.
        """
        last = self._last_headers
        if last is not None and last[0] is headers and last[1] == bearer:
            return last[2]
        key = (tuple(headers.items()), bearer)
        cleaned = self._checked.get(key)
        if cleaned is None:
            request_headers = [(name, value) for name, value in headers.items()]
            if bearer is not None:
                request_headers.append(("authorization", f"bearer {bearer}"))
            cleaned = clean_headers(request_headers)
            if len(self._checked) >= CHECKED_HEADER_SETS:
                self._checked.clear()
            self._checked[key] = cleaned
        # Keyed by identity: the dict is kept alive here, so its id is never reused.
        self._last_headers = (headers, bearer, cleaned)
        return cleaned

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._pool.close()


#: What `quote(token, safe="")` leaves as it is: a token made only of these (hex, as
#: APNs tokens are) needs no quoting.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]+")


def _device_path(token: str) -> str:
    """The request path naming a device token, percent-encoded when it needs to be."""
    if _UNQUOTED.fullmatch(token):
        return "/3/device/" + token
    return "/3/device/" + quote(token, safe="")


def _answer_result(answer: BatchAnswer) -> DeliveryResult | Exception:
    """A batch answer as `send` would have reported it; unexpected errors stay errors."""
    if isinstance(answer, Http2Response):
        return _result_from(answer)
    if isinstance(answer, QueueTimeoutError):
        return DeliveryResult.transport_error("queue_timeout")
    if isinstance(answer, TimeoutError):
        return DeliveryResult.transport_error("timeout")
    if isinstance(answer, InvalidRequestError | OutboundRefused):
        return DeliveryResult(Outcome.FAILED, reason=str(answer))
    if isinstance(answer, Http2Error | OSError):
        return DeliveryResult.transport_error(f"{type(answer).__name__}: {answer}")
    return answer


def _result_from(response: Http2Response) -> DeliveryResult:
    if response.status == 200 and not response.body:
        # Nearly every answer: accepted, nothing to parse but its id.
        return DeliveryResult(Outcome.SENT, 200, None, response.headers.get("apns-id"))
    reason = _reason(response.body)
    outcome = outcome_for(response.status, reason)
    return DeliveryResult(
        outcome=outcome,
        status=response.status,
        reason=reason,
        provider_message_id=response.headers.get("apns-id"),
        retry_after=(
            parse_retry_after(response.headers.get("retry-after"))
            if outcome is Outcome.RETRY
            else None
        ),
    )


def _reason(body: bytes) -> str | None:
    if not body:
        return None
    # Only an APNs reason is quoted: the endpoint may be any server.
    try:
        document = json.loads(body)
    except ValueError:
        return None
    reason = document.get("reason") if isinstance(document, dict) else None
    if isinstance(reason, str) and _APNS_REASON.match(reason):
        return reason
    return None
