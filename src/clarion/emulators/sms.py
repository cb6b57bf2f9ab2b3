"""The SMS emulator: a small HTTPS gateway, `POST /sms {to, from, body}`."""

from __future__ import annotations

import asyncio
from typing import Any

import phonenumbers
from aiohttp import web

from clarion.emulators.base import HttpsEmulator
from clarion.emulators.control import add_control_routes, read_json_object
from clarion.emulators.http_site import reset_connection
from clarion.emulators.records import Delivery
from clarion.emulators.tls import TlsFiles

MAX_BODY_CHARS = 1600
MAX_ALPHANUMERIC_SENDER = 11

REASON_STATUS: dict[str, int] = {
    "INVALID_NUMBER": 400,
    "UNREACHABLE": 404,
    "BLOCKED": 403,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
}


def status_for_reason(reason: str) -> int | None:
    """The HTTP status for an SMS fault reason."""
    return REASON_STATUS.get(reason)


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> web.Response:
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def e164(number: Any) -> str | None:
    """The number in E.164 form when it is a valid international number, else None."""
    if not isinstance(number, str) or not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted if formatted == number else None


def _valid_sender(sender: Any) -> bool:
    if not isinstance(sender, str) or not sender:
        return False
    if sender.startswith("+"):
        return e164(sender) is not None
    return len(sender) <= MAX_ALPHANUMERIC_SENDER and sender.isalnum()


class SmsEmulator(HttpsEmulator):
    """An SMS gateway on `url` that records every accepted message."""

    def __init__(
        self,
        tls: TlsFiles,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        max_records: int | None = None,
    ) -> None:
        super().__init__(tls, host, port, status_for_reason, seed, max_records)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        if self.faults.pick_reset():
            reset_connection(request)
            return web.Response(status=500)
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        doc = await read_json_object(request)
        if isinstance(doc, web.Response):
            return doc
        recipient = e164(doc.get("to"))
        if recipient is None:
            return self._refuse(str(doc.get("to")), 400, "INVALID_NUMBER", "to must be E.164")
        if not _valid_sender(doc.get("from")):
            return self._refuse(
                recipient, 400, "INVALID_SENDER", "from must be E.164 or up to 11 letters/digits"
            )
        text = doc.get("body")
        if not isinstance(text, str) or not text or len(text) > MAX_BODY_CHARS:
            return self._refuse(
                recipient, 400, "INVALID_BODY", f"body must be 1 to {MAX_BODY_CHARS} characters"
            )
        forced = self.faults.pick_outcome(recipient)
        if forced is not None:
            self.recorder.reject(recipient, forced.status, forced.reason)
            return _error(forced.status, forced.reason, "fault rule", forced.retry_after)
        delivery = Delivery(
            target=recipient,
            headers={},
            body=text.encode(),
            payload={"to": recipient, "from": doc["from"], "body": text},
        )
        self.recorder.accept(delivery)
        return web.json_response({"id": delivery.id, "status": "queued"}, status=201)

    def _refuse(self, target: str, status: int, code: str, message: str) -> web.Response:
        self.recorder.reject(target, status, code)
        return _error(status, code, message)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sms", self._send)
        add_control_routes(app, self.recorder, self.faults)
        return app
