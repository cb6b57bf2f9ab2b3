"""Native routes read JSON bodies, path and query parameters through the safe-input checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from clarion.domain.safe_input import UnsafeInput, check_text, loads_checked


class _Refusal(HTTPException):
    """Carries an UnsafeInput through FastAPI's body reading, which re-raises HTTPExceptions."""

    def __init__(self, error: UnsafeInput) -> None:
        super().__init__(status_code=400, detail=error.message)
        self.error = error


class CheckedRequest(Request):
    """A request whose JSON body is parsed by loads_checked."""

    async def json(self) -> Any:
        """The checked JSON document; syntax errors still raise json.JSONDecodeError."""
        if not hasattr(self, "_checked_json"):
            body = await self.body()
            try:
                self._checked_json = loads_checked(body)
            except UnsafeInput as exc:
                raise _Refusal(exc) from None
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError("the body is not UTF-8", "", exc.start) from None
        return self._checked_json


def check_parameters(request: Request) -> None:
    """Refuse path and query parameters that no database could store."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, name)
    if not request.scope.get("query_string"):
        return
    for name, value in request.query_params.multi_items():
        check_text(name, "query")
        check_text(value, name)


class CheckedRoute(APIRoute):
    """An APIRoute whose requests pass the safe-input checks before the endpoint runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: checked parameters, checked JSON body."""
        handler = super().get_route_handler()

        async def checked_handler(request: Request) -> Response:
            check_parameters(request)
            try:
                return await handler(CheckedRequest(request.scope, request.receive))
            except _Refusal as refusal:
                # The native error handlers answer UnsafeInput (a DomainError) with its field.
                raise refusal.error from None

        return checked_handler
