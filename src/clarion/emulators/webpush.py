"""The Web Push emulator: hands out subscriptions and receives RFC 8030 pushes over TLS."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from clarion.emulators.base import HttpsEmulator
from clarion.emulators.control import add_control_routes, json_error
from clarion.emulators.faults import Outcome
from clarion.emulators.http_site import reset_connection
from clarion.emulators.records import Delivery, decode_payload
from clarion.emulators.tls import TlsFiles
from clarion.emulators.webpush_crypto import (
    BrowserKeys,
    DecryptError,
    b64url_decode,
    decrypt_aes128gcm,
    new_browser_keys,
)
from clarion.emulators.webpush_vapid import VapidError, verify_vapid

MAX_BODY_BYTES = 4096
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")

REASON_STATUS: dict[str, int] = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "Gone": 410,
    "PayloadTooLarge": 413,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "BadGateway": 502,
    "ServiceUnavailable": 503,
}


def status_for_reason(reason: str) -> int | None:
    """The HTTP status for a Web Push fault reason."""
    return REASON_STATUS.get(reason)


@dataclass
class Subscription:
    """One push subscription: its id, browser keys, optional sender key and lifetime."""

    id: str
    keys: BrowserKeys
    application_server_key: bytes | None
    expires_at: float | None
    unsubscribed: bool = False

    def is_gone(self, now: float) -> bool:
        """Whether pushes must get 410 (unsubscribed or past its expiry)."""
        return self.unsubscribed or (self.expires_at is not None and now >= self.expires_at)


def _problem(
    status: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"code": status, "error": reason, "message": message}, status=status, headers=headers
    )


class WebPushEmulator(HttpsEmulator):
    """A push service on `url` (also the VAPID audience); `create_subscription` plays the browser.

    Its `deliveries` carry each push's decrypted payload.
    """

    def __init__(
        self,
        tls: TlsFiles,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        max_records: int | None = None,
    ) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        super().__init__(tls, host, port, status_for_reason, seed, max_records)

    def create_subscription(
        self, application_server_key: str | None = None, expires_in: float | None = None
    ) -> dict[str, Any]:
        """A new subscription `{"endpoint", "keys": {"p256dh", "auth"}}`, as a browser gives it.

        With `application_server_key` (base64url VAPID public key) only that sender may push.
        """
        keys = new_browser_keys()
        subscription = Subscription(
            id=secrets.token_urlsafe(24),
            keys=keys,
            application_server_key=None
            if application_server_key is None
            else b64url_decode(application_server_key),
            expires_at=None if expires_in is None else time.time() + expires_in,
        )
        self.subscriptions[subscription.id] = subscription
        return {
            "endpoint": self.endpoint(subscription.id),
            "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
        }

    def endpoint(self, subscription_id: str) -> str:
        """The push endpoint URL of a subscription."""
        return f"{self.url}/push/{subscription_id}"

    def subscription_id(self, endpoint: str) -> str:
        """The id at the end of an endpoint URL."""
        return endpoint.rstrip("/").rsplit("/", 1)[-1]

    def unsubscribe(self, endpoint_or_id: str) -> None:
        """Make the subscription answer 410 Gone, as after the user revokes permission."""
        subscription = self.subscriptions.get(self.subscription_id(endpoint_or_id))
        if subscription is None:
            raise KeyError(endpoint_or_id)
        subscription.unsubscribed = True

    def deliveries_for(self, endpoint_or_id: str) -> list[Delivery]:
        """Accepted pushes of one subscription."""
        target = self.subscription_id(endpoint_or_id)
        return [d for d in self.recorder.deliveries if d.target == target]

    def _refuse(self, target: str, outcome: Outcome, message: str) -> web.Response:
        self.recorder.reject(target, outcome.status, outcome.reason)
        headers = None if outcome.retry_after is None else {"Retry-After": str(outcome.retry_after)}
        return _problem(outcome.status, outcome.reason, message, headers)

    def _bad(self, target: str, status: int, message: str) -> web.Response:
        reason = next((name for name, code in REASON_STATUS.items() if code == status), "Error")
        return self._refuse(target, Outcome(status, reason), message)

    async def _push(self, request: web.Request) -> web.StreamResponse:
        if self.faults.pick_reset():
            reset_connection(request)
            return web.Response(status=500)
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        target = request.match_info["subscription"]
        subscription = self.subscriptions.get(target)
        if subscription is None:
            return self._bad(target, 404, "no such subscription")
        if subscription.is_gone(time.time()):
            return self._bad(target, 410, "subscription has expired or was unsubscribed")
        try:
            verify_vapid(
                request.headers.get("Authorization"),
                self.url,
                subscription.application_server_key,
            )
        except VapidError as error:
            return self._bad(target, error.status, error.message)
        checked = self._check_headers(request)
        if checked is not None:
            return self._bad(target, 400, checked)
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return self._bad(target, 413, f"body exceeds {MAX_BODY_BYTES} bytes")
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return self._bad(target, 413, f"body exceeds {MAX_BODY_BYTES} bytes")
        plaintext = b""
        if body:
            try:
                plaintext = decrypt_aes128gcm(body, subscription.keys)
            except DecryptError as error:
                return self._bad(target, 400, f"cannot decrypt the body: {error}")
        forced = self.faults.pick_outcome(target)
        if forced is not None:
            return self._refuse(target, forced, "fault rule")
        recorded = {
            name.lower(): request.headers[name]
            for name in ("TTL", "Urgency", "Topic", "Content-Encoding")
            if name in request.headers
        }
        delivery = Delivery(
            target=target, headers=recorded, body=plaintext, payload=decode_payload(plaintext)
        )
        self.recorder.accept(delivery)
        return web.Response(
            status=201,
            headers={"Location": f"{self.url}/m/{delivery.id}", "TTL": recorded["ttl"]},
        )

    @staticmethod
    def _check_headers(request: web.Request) -> str | None:
        ttl = request.headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            return "TTL header is required and must be a non-negative integer"
        urgency = request.headers.get("Urgency")
        if urgency is not None and urgency not in URGENCIES:
            return "Urgency must be very-low, low, normal or high"
        topic = request.headers.get("Topic")
        if topic is not None and _TOPIC.fullmatch(topic) is None:
            return "Topic must be at most 32 base64url characters"
        encoding = request.headers.get("Content-Encoding")
        has_body = (request.content_length or 0) > 0 or request.body_exists
        if has_body and encoding != "aes128gcm":
            return "Content-Encoding must be aes128gcm"
        return None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push/{subscription}", self._push)
        add_control_routes(app, self.recorder, self.faults)

        async def add_subscription(request: web.Request) -> web.Response:
            try:
                doc: Any = await request.json() if request.body_exists else {}
            except ValueError:
                return json_error(400, "the body is not valid JSON")
            if not isinstance(doc, dict):
                return json_error(400, "the body must be a JSON object")
            server_key, expires_in = doc.get("application_server_key"), doc.get("expires_in")
            if server_key is not None and not isinstance(server_key, str):
                return json_error(400, "application_server_key must be a string")
            if expires_in is not None and not isinstance(expires_in, int | float):
                return json_error(400, "expires_in must be a number of seconds")
            return web.json_response(self.create_subscription(server_key, expires_in), status=201)

        async def remove_subscription(request: web.Request) -> web.Response:
            try:
                self.unsubscribe(request.match_info["subscription"])
            except KeyError:
                return json_error(404, "no such subscription")
            return web.Response(status=204)

        app.router.add_post("/_emulator/subscriptions", add_subscription)
        app.router.add_delete("/_emulator/subscriptions/{subscription}", remove_subscription)
        return app
