"""The everyday `POST /v1/sends` answered in front of the middleware stack, as the stack would.

The route in api/v1/sends.py stays the definition (OpenAPI, and every request that does
not come this way). A request is taken here only when it is a JSON POST without query
string whose body, within the size limit, the route would read and validate without
complaint; for anything else the whole application gets the request with the messages
read so far replayed, so that every such refusal is the route's own. From
authentication on, the route's own functions run in the route's order; what they raise
goes to the application's own exception handlers. The middlewares' work is done here
once, without their layers (each a coroutine and a wrapped `send` per request): the
protection headers, the request metrics, the body limit and the answer to an
unexpected error, which is raised again for the server to log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.api.auth import authenticate, project_context
from clarion.api.metrics import LATENCY, REQUESTS
from clarion.api.security_headers import API_HEADERS, SecurityHeadersMiddleware
from clarion.api.state import state_from
from clarion.api.v1.sends import MAX_IDEMPOTENCY_KEY_CHARS, SendIn, accept_send, create_send
from clarion.domain.safe_input import loads_checked

PATH: Final = "/v1/sends"
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def send_route(routes: list[Any]) -> APIRoute:
    """The route object of `POST /v1/sends`, which metrics and logs name the request by."""
    for route in routes:
        if isinstance(route, APIRoute) and route.endpoint is create_send:
            return route
    raise LookupError("POST /v1/sends is not routed")


class FastSends:
    """Takes plain, valid send requests before the application's middleware stack."""

    def __init__(
        self, app: FastAPI, full: ASGIApp, route: APIRoute, max_body_bytes: int, middlewares: int
    ) -> None:
        self.app = app
        #: The application as every other request meets it.
        self.full = full
        self.route = route
        self.max_body_bytes = max_body_bytes
        # Middlewares added after this was built would be skipped: then nothing is taken.
        self._middlewares = middlewares
        self._created = REQUESTS.labels("POST", route.path, "201")
        self._latency = LATENCY.labels("POST", route.path)

    def takes(self, scope: Scope) -> bool:
        """Whether a request may be answered here (its body still decides)."""
        return (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
            and not scope.get("query_string")
            and not scope.get("root_path")
            and not self.app.root_path
            # Overridden dependencies only take effect through the route.
            and not self.app.dependency_overrides
            and len(self.app.user_middleware) == self._middlewares
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a plain send here; hand anything else to the whole application."""
        started = time.perf_counter()
        read = await self._read_body(scope, receive)
        if isinstance(read, list):
            await self.full(scope, _replay(read, receive), send)
            return
        request = Request(scope, _replay([_whole(read)], receive))
        checked = _checked(request.headers, read)
        if checked is None:
            await self.full(scope, _replay([_whole(read)], receive), send)
            return
        send_in, idempotency_key = checked
        scope["app"] = self.app
        scope["router"] = self.app.router
        scope["endpoint"] = create_send
        scope["path_params"] = {}
        scope["route"] = self.route
        status = 500
        try:
            try:
                state = state_from(request)
                principal = await authenticate(request, state)
                context = await project_context(request, principal, state, "send")
                status, answer = await accept_send(send_in, idempotency_key, context, state)
            except Exception as exc:
                status = await self._refuse(request, exc, send)
                return
            body = answer_bytes(answer)
            start: Message = {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                    *API_HEADERS,
                ],
            }
            await send(start)
            await send({"type": "http.response.body", "body": body})
        finally:
            counter = (
                self._created
                if status == 201
                else REQUESTS.labels("POST", self.route.path, str(status))
            )
            counter.inc()
            self._latency.observe(time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | list[Message]:
        """The whole body, or the messages read so far when the application must see them."""
        for name, value in scope["headers"]:
            if name == b"content-length" and (
                not value.isdigit() or int(value) > self.max_body_bytes
            ):
                return []
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return messages
            if not message.get("more_body", False):
                break
        if len(messages) == 1:
            body: bytes = messages[0].get("body", b"")
            return body
        return b"".join(m.get("body", b"") for m in messages)

    async def _refuse(self, request: Request, exc: Exception, send: Send) -> int:
        """Answer an exception with the application's handler for it; its status.

        One with no handler of its own is answered by the handler of unexpected errors
        and raised again, as the server-error middleware does.
        """
        handler = self._handler(exc)
        unexpected = handler is None
        if handler is None:
            handler = self.app.exception_handlers.get(500) or self.app.exception_handlers.get(
                Exception
            )
        if handler is None:
            response: Response = Response("Internal Server Error", status_code=500)
        elif is_async_callable(handler):
            response = await handler(request, exc)
        else:
            plain = cast(Callable[[Request, Exception], Response], handler)
            response = await run_in_threadpool(plain, request, exc)
        await SecurityHeadersMiddleware(response)(request.scope, request.receive, send)
        if unexpected:
            raise exc
        return response.status_code

    def _handler(self, exc: Exception) -> Handler | None:
        """The exception middleware's choice: by status for HTTP errors, else by class."""
        handlers = self.app.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            found: Handler = handlers[exc.status_code]
            return found
        for cls in type(exc).__mro__:
            if cls is Exception:
                # Left to the server-error middleware, which also raises it again.
                return None
            if cls in handlers:
                found = handlers[cls]
                return found
        return None


def answer_bytes(answer: dict[str, Any]) -> bytes:
    """The answer as the route's JSON response writes it.

    The everyday answer (id, status, count) is put together directly: the encoder's
    setup costs more than the three values.
    """
    if answer.keys() == _PLAIN_ANSWER:
        send_id, status, recipients = answer["id"], answer["status"], answer["recipients"]
        if type(send_id) is str and type(status) is str and type(recipients) is int:
            return (
                f'{{"id":{_string(send_id)},"status":{_string(status)},"recipients":{recipients}}}'
            ).encode()
    return json.dumps(
        answer, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


_PLAIN_ANSWER: Final = {"id": None, "status": None, "recipients": None}.keys()
#: JSON's string quoting as `json.dumps(..., ensure_ascii=False)` does it.
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring


def _whole(body: bytes) -> Message:
    return {"type": "http.request", "body": body, "more_body": False}


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` giving the messages already read, then the client's later ones."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _checked(headers: Headers, body: bytes) -> tuple[SendIn, str | None] | None:
    """The validated body and Idempotency-Key, or None when the route must look at them."""
    content_type = headers.get("content-type")
    if content_type is None or content_type.lower() != "application/json":
        return None
    key = headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        return None
    try:
        document = loads_checked(body)
    except Exception:
        # The route reads the body again and answers the refusal in its own words.
        return None
    if type(document) is not dict:
        return None
    try:
        return SendIn.model_validate(document), key
    except ValidationError:
        return None
