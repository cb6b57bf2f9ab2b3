"""Browser-facing protection headers on every response."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: API answers are data, never something a browser should render, run or frame.
API_POLICY: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
#: The headers an API answer gets, as raw ASGI header pairs.
API_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", API_POLICY.encode()),
)

# The API docs pages load their viewers from this server; inline scripts are allowed by hash.
_HTML_SOURCES: Final = (
    "default-src 'none'",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "img-src 'self' data:",
    "connect-src 'self'",
    "worker-src blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def html_policy(body: bytes) -> str:
    """The Content-Security-Policy of an HTML page: its own inline scripts and nothing else."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    ]
    scripts = " ".join(["script-src 'self'", *hashes])
    return "; ".join([*_HTML_SOURCES, scripts])


class SecurityHeadersMiddleware:
    """Adds nosniff, frame denial and a Content-Security-Policy to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap `send` so the response start carries the headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                if "content-security-policy" in headers:
                    # A page that states its own policy (the console) keeps it.
                    await send(message)
                    return
                if headers.get("content-type", "").startswith("text/html"):
                    # The policy names the page's inline scripts: wait for the whole body.
                    held.append(message)
                    return
                headers["Content-Security-Policy"] = API_POLICY
                await send(message)
                return
            if held and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body", False):
                    return
                await _send_html(held, send)
                held.clear()
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_html(messages: list[Message], send: Send) -> None:
    start, bodies = messages[0], messages[1:]
    body = b"".join(part.get("body", b"") for part in bodies)
    MutableHeaders(scope=start)["Content-Security-Policy"] = html_policy(body)
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
