"""HTTP routes of the batch dialect: the transactional send and the prefix's catch-all."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from clarion.api.auth import verify_credentials
from clarion.api.dialects.batch.errors import BatchError, error_response, from_domain, malformed
from clarion.api.dialects.batch.translate import native_document
from clarion.api.dialects.batch.unavailable import database_unreachable
from clarion.api.errors import with_retry_after
from clarion.api.offload import off_loop
from clarion.api.ratelimit import RateLimited
from clarion.api.state import AppState, get_state
from clarion.domain.command import parse_send_command
from clarion.domain.errors import DomainError
from clarion.domain.safe_input import UnsafeInput, loads_checked, text_problem
from clarion.sending.accept import accept_send, request_hash
from clarion.sending.media_check import MB, MediaRule, check_media
from clarion.store import apps as app_store
from clarion.store.keys import StoredKey

log = logging.getLogger(__name__)

_IMAGES = frozenset({"image/png", "image/jpeg", "image/jpg"})
#: The document's media requirements: PNG/JPG images up to 5 MB, MP3 up to 10 MB, MP4 up to 30 MB.
MEDIA_RULES = {
    "icon": MediaRule("icon", "image/", 5 * MB, _IMAGES),
    "picture": MediaRule("picture", "image/", 5 * MB, _IMAGES),
    "audio": MediaRule("audio", "audio/", 10 * MB, frozenset({"audio/mpeg", "audio/mp3"})),
    "video": MediaRule("video", "video/", 30 * MB, frozenset({"video/mp4", "video/mpeg"})),
}

PREFIX: Final = "/1.1"
SEND_PATH: Final = PREFIX + "/{app_api_key}/transactional/send"
AUTH_HEADER: Final = "X-Authorization"
_SENDING_SCOPES: Final = frozenset({"send", "admin"})
_ALL_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

router = APIRouter(tags=["dialect: batch"])


async def authorize(state: AppState, request: Request, app_id: str) -> StoredKey:
    """The REST key of X-Authorization must be a sending key of the project owning the app."""
    presented = request.headers.get(AUTH_HEADER, "").strip()
    if not presented:
        raise BatchError("AUTHENTICATION_INVALID", f"the {AUTH_HEADER} header is missing")
    try:
        stored = await verify_credentials(state, request, presented)
    except RateLimited as exc:
        raise BatchError("TOO_MANY_REQUESTS", str(exc), retry_after=exc.retry_after) from None
    if not isinstance(stored, StoredKey):
        raise BatchError("AUTHENTICATION_INVALID", "the REST API key is not valid")
    async with state.engine.connect() as conn:
        app = await app_store.get_app(conn, app_id)
    # An app of another project is answered like an unknown one: nothing leaks across projects.
    if app is None or app["project_id"] != stored.project_id:
        raise BatchError("AUTHENTICATION_INVALID", "the app API key is not valid")
    if not stored.scopes & _SENDING_SCOPES:
        raise BatchError("API_MISUSE", "this REST API key may not send notifications")
    if stored.app_ids is not None and app_id not in stored.app_ids:
        raise BatchError("API_MISUSE", "this REST API key may not send for this app")
    try:
        await state.rate_limiter.check(stored.id)
    except RateLimited as exc:
        raise BatchError("TOO_MANY_REQUESTS", str(exc), retry_after=exc.retry_after) from None
    return stored


def parse_body(raw: bytes) -> Any:
    """The JSON document of the request, or MALFORMED_JSON_BODY, or the unsafe value's field."""
    try:
        return loads_checked(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BatchError("MALFORMED_JSON_BODY", "the request body is not valid JSON") from None
    except UnsafeInput as exc:
        raise malformed(exc.field or "body", exc.message) from None


async def _send(app_id: str, request: Request, state: AppState) -> Response:
    if text_problem(app_id) is not None:
        raise BatchError("AUTHENTICATION_INVALID", "the app API key is not valid")
    stored = await authorize(state, request, app_id)
    native = native_document(parse_body(await request.body()), app_id)
    command = await off_loop(parse_send_command, native, stored.app_ids)
    field = "contents" if "contents" in native else "content"
    await check_media(
        command.message,
        field,
        extra_ca_file=state.settings.extra_ca_file,
        rules=MEDIA_RULES,
        outbound=state.settings.outbound_policy,
    )
    accepted = await accept_send(
        state.engine, state.queue, stored.project_id, command, fingerprint=request_hash(native)
    )
    return JSONResponse({"token": accepted.id}, status_code=201)


@router.post(SEND_PATH, status_code=201, response_model=None)
async def transactional_send(
    app_api_key: str, request: Request, state: AppState = Depends(get_state)
) -> Response:
    """Send one push to explicit recipients of one app; answers 201 {"token": <send id>}."""
    try:
        return await _send(app_api_key, request, state)
    except BatchError as exc:
        return error_response(exc)
    except DomainError as exc:
        return error_response(from_domain(exc))
    except Exception as exc:
        if database_unreachable(exc):
            log.warning("batch send: the database is unreachable: %s", exc)
            return with_retry_after(
                error_response(
                    BatchError("MAINTENANCE_ERROR", "the service is temporarily unavailable")
                )
            )
        log.exception("batch send failed")
        return error_response(BatchError("SERVER_ERROR", "internal error; try again later"))


@router.api_route(PREFIX + "/{rest:path}", methods=_ALL_METHODS, include_in_schema=False)
async def unknown_route(rest: str) -> JSONResponse:
    """Every other path or method under the prefix answers ROUTE_NOT_FOUND."""
    return error_response(BatchError("ROUTE_NOT_FOUND", f"no route {PREFIX}/{rest}"))
