"""HTTP routes of the dengage dialect; every failure under its paths answers in its error body."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from clarion.api.dialects.dengage.auth import Caller, authorize
from clarion.api.dialects.dengage.errors import (
    DengageError,
    from_domain,
    validation_error,
)
from clarion.api.dialects.dengage.instant import InstantPush, instant_field
from clarion.api.dialects.dengage.transactional import TransactionalPush, build_command
from clarion.api.errors import with_retry_after
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.domain.command import parse_send_command
from clarion.domain.errors import DomainError, domain_error_from_validation
from clarion.domain.safe_input import UnsafeInput, loads_checked
from clarion.sending.accept import IdempotencyConflict, accept_broadcast, accept_send, request_hash
from clarion.sending.templates import template_document
from clarion.store import apps as app_store
from clarion.store.outage import database_unreachable
from clarion.store.types import utcnow

router = APIRouter(tags=["dialect: dengage"])
log = structlog.get_logger(__name__)

#: traceId lives in its own idempotency namespace so it never meets a native key.
TRACE_PREFIX = "dengage:"
TRACKING_PREFIX = "dengage-tracking:"
ModelT = TypeVar("ModelT", bound=BaseModel)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


async def _guarded(work: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await work()
    except DengageError as exc:
        return exc.response()
    except DomainError as exc:
        return from_domain(exc, exc.field).response()
    except Exception as exc:
        if database_unreachable(exc):
            log.warning("dengage_database_unavailable", error=repr(exc))
            busy = DengageError(503, "ServiceUnavailable", "the service is unavailable; try later")
            return with_retry_after(busy.response())
        log.exception("dengage_request_failed")
        return DengageError(500, "InternalError", "internal error; see the server log").response()


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        document = loads_checked(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise validation_error("the request body is not valid JSON", None) from None
    except UnsafeInput as exc:
        raise validation_error(exc.message, exc.field) from None
    if not isinstance(document, dict):
        raise validation_error("the request body must be a JSON object", None)
    return document


def _parse(model: type[ModelT], document: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = domain_error_from_validation(exc)
        raise validation_error(error.message, error.field) from None


async def _check_app(state: AppState, caller: Caller, app_id: str, field: str) -> None:
    if not caller.may_use_app(app_id):
        raise DengageError(403, "Forbidden", f"the API user may not send for app {app_id!r}", field)
    async with state.engine.connect() as conn:
        app = await app_store.get_app(conn, app_id)
    if app is None or app["project_id"] != caller.project_id:
        raise DengageError(404, "NotFound", f"application {app_id!r} was not found", field)


@router.post("/api/transactional/push")
async def send_transactional_push(request: Request) -> Response:
    """SendTransactionalPush: one push to a contact's devices or to one device token."""

    async def work() -> Response:
        state = get_state(request)
        caller = await authorize(request, state)
        document = await _json_object(request)
        push = _parse(TransactionalPush, document)
        push.check_targeting()
        if push.appId is not None:
            await _check_app(state, caller, push.appId, "appId")
        async with state.engine.connect() as conn:
            try:
                template = await template_document(
                    conn, caller.project_id, push.templateId, utcnow()
                )
            except DomainError as exc:
                raise from_domain(exc, "templateId") from None
            sms_template = None
            fallback = push.fallbackChannel
            if fallback is not None and fallback.message is None and fallback.templateId:
                try:
                    sms_template = await template_document(
                        conn, caller.project_id, fallback.templateId, utcnow()
                    )
                except DomainError as exc:
                    raise from_domain(exc, "fallbackChannel.templateId") from None
        command = await off_loop(
            build_command, push, template, caller.app_ids, utcnow(), sms_template
        )
        try:
            accepted = await accept_send(
                state.engine,
                state.queue,
                caller.project_id,
                command,
                fingerprint=request_hash(document),
                idempotency_key=TRACE_PREFIX + push.traceId if push.traceId else None,
            )
        except IdempotencyConflict:
            raise DengageError(
                409, "Conflict", "this traceId was used for a different request", "traceId"
            ) from None
        body: dict[str, Any] = {"success": True, "messageId": accepted.id}
        if push.traceId is not None:
            body["traceId"] = push.traceId
        return JSONResponse(body, status_code=200)

    return await _guarded(work)


@router.post("/api/push/instant")
async def send_instant_push(request: Request) -> Response:
    """SendInstantPush: a broadcast to a segment, a table or every device of the applications."""

    async def work() -> Response:
        state = get_state(request)
        caller = await authorize(request, state)
        document = await _json_object(request)
        push = _parse(InstantPush, document)
        push.check_shape()
        for index, app_id in enumerate(push.applicationIds):
            await _check_app(state, caller, app_id, f"applicationIds[{index}]")
        template_id = push.template_id()
        if template_id is not None:
            async with state.engine.connect() as conn:
                try:
                    contents = await template_document(
                        conn, caller.project_id, template_id, utcnow()
                    )
                except DomainError as exc:
                    raise from_domain(exc, "content.templateId") from None
        else:
            contents = push.native_contents()
        native = push.broadcast_document(contents, utcnow())
        tracking_id = push.tracking_id()
        try:
            command = await off_loop(parse_send_command, native, caller.app_ids)
            accepted = await accept_broadcast(
                state.engine,
                state.queue,
                caller.project_id,
                command,
                fingerprint=request_hash(document),
                # A caller's own trackingId makes a retry answer the first send.
                idempotency_key=TRACKING_PREFIX + tracking_id if push.trackingId else None,
            )
        except IdempotencyConflict:
            raise DengageError(
                409, "Conflict", "this trackingId was used for a different request", "trackingId"
            ) from None
        except DomainError as exc:
            raise _instant_error(exc, push) from None
        body = {"success": True, "trackingId": tracking_id, "messageId": accepted.id}
        return JSONResponse(body, status_code=200)

    return await _guarded(work)


def _instant_error(exc: DomainError, push: InstantPush) -> DengageError:
    field = instant_field(exc.field)
    if exc.code == "NOT_FOUND" and field == "segmentId":
        return DengageError(404, "NotFound", f"segment {push.segmentId!r} was not found", field)
    if exc.code == "NOT_FOUND" and field == "tableId":
        return DengageError(404, "NotFound", f"table {push.tableId!r} was not found", field)
    return from_domain(exc, field)


async def _unknown_route(request: Request) -> Response:
    path = request.url.path
    if path in ("/api/transactional/push", "/api/push/instant"):
        return DengageError(
            405, "MethodNotAllowed", f"{request.method} is not allowed on {path}"
        ).response()
    return DengageError(404, "RouteNotFound", f"no route {path}").response()


for _prefix in ("/api/transactional", "/api/push"):
    router.add_api_route(
        _prefix + "/{rest:path}", _unknown_route, methods=_METHODS, include_in_schema=False
    )
