"""The everyday `POST /v1/sends` answered without FastAPI's route matching and dependency solving.

The route in api/v1/sends.py stays the definition (OpenAPI, and every request that does
not come this way). A request is taken here only when it is a JSON POST without query
string whose body the route would read and validate without complaint; for anything
else, refusals included, the route gets the request with its body replayed, so that
every error is the route's own. From authentication on, the route's own functions run
in the route's order and raise the same errors to the same handlers.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from clarion.api.auth import authenticate, project_context
from clarion.api.body_limit import replay_body
from clarion.api.state import state_from
from clarion.api.v1.sends import MAX_IDEMPOTENCY_KEY_CHARS, SendIn, accept_send, create_send
from clarion.domain.safe_input import loads_checked

PATH: Final = "/v1/sends"


def send_route(routes: list[Any]) -> APIRoute:
    """The route object of `POST /v1/sends`, which metrics and logs name the request by."""
    for route in routes:
        if isinstance(route, APIRoute) and route.endpoint is create_send:
            return route
    raise LookupError("POST /v1/sends is not routed")


class FastSends:
    """ASGI wrapper around the router taking plain, valid send requests directly."""

    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a plain send here; hand anything else to the router."""
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("query_string")
            or scope.get("root_path")
            # Overridden dependencies only take effect through the route.
            or scope["app"].dependency_overrides
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        checked = _checked(request.headers, body)
        if checked is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        send_in, idempotency_key = checked
        scope["endpoint"] = create_send
        scope["path_params"] = {}
        scope["route"] = self.route
        state = state_from(request)
        principal = await authenticate(request, state)
        context = await project_context(request, principal, state, "send")
        status, answer = await accept_send(send_in, idempotency_key, context, state)
        await JSONResponse(answer, status_code=status)(scope, receive, send)


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
