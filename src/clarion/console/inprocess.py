"""Calls into the native API inside this process, with the signed-in key.

The console never re-implements what the API does: validation, scopes, idempotency and
the send path are the API's, reached through its own ASGI application.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message

from clarion.api.auth import PROJECT_HEADER


@dataclass(frozen=True)
class Answer:
    """An API answer: status and decoded JSON body (None when empty)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def error(self) -> str:
        """The API's error message with the field it names, for showing to the user."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            error = self.body["error"]
            message = str(error.get("message", "request refused"))
            field = error.get("field")
            return f"{field}: {message}" if field and field not in message else message
        return f"the server answered {self.status}"

    @property
    def field(self) -> str | None:
        """The field the API's error names, if any."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            field = self.body["error"].get("field")
            return str(field) if field else None
        return None


class ApiClient:
    """The native API as the signed-in key sees it."""

    def __init__(
        self, app: ASGIApp, key: str, project_id: str | None, client: tuple[str, int] | None
    ) -> None:
        self._app = app
        self._key = key
        self._project_id = project_id
        self._client = client

    async def get(self, path: str, **query: Any) -> Answer:
        """GET a route; None query values are left out."""
        return await self.call("GET", path, query=query)

    async def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """POST a JSON body."""
        return await self.call("POST", path, body, headers=headers)

    async def put(self, path: str, body: Any) -> Answer:
        """PUT a JSON body."""
        return await self.call("PUT", path, body)

    async def patch(self, path: str, body: Any) -> Answer:
        """PATCH a JSON body."""
        return await self.call("PATCH", path, body)

    async def delete(self, path: str) -> Answer:
        """DELETE a resource."""
        return await self.call("DELETE", path)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Run one request through the API application and collect its answer."""
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        sent = [
            (b"authorization", f"Bearer {self._key}".encode()),
            (b"host", b"console.internal"),
        ]
        if body is not None:
            sent.append((b"content-type", b"application/json"))
            sent.append((b"content-length", str(len(payload)).encode()))
        if self._project_id is not None:
            sent.append((PROJECT_HEADER.lower().encode(), self._project_id.encode()))
        for name, value in (headers or {}).items():
            sent.append((name.lower().encode(), value.encode()))
        shown = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": urlencode(shown).encode(),
            "headers": sent,
            "client": self._client,
            "server": ("console.internal", 80),
            "state": {},
        }
        delivered = False
        status = 500
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        raw = b"".join(chunks)
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        return Answer(status, decoded)
