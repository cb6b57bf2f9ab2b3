"""HTTP routes of the dengage dialect; every failure under its paths answers in its error body."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from clarion.api.auth import bearer_token
from clarion.api.dialects.dengage.errors import DENGAGE, from_domain
from clarion.api.dialects.dengage.instant import InstantPush, instant_field
from clarion.api.dialects.dengage.transactional import TransactionalPush, build_command
from clarion.api.dialects.kit import (
    Caller,
    Kind,
    Problem,
    add_catch_all,
    authorize,
    dialect_router,
    json_object,
    owns_app,
    parse_model,
)
from clarion.api.dialects.kit.native import (
    IdempotencyConflict,
    accept,
    parse_send_command,
    request_hash,
    template_document,
    utcnow,
)
from clarion.api.offload import off_loop
from clarion.api.state import AppState, state_from
from clarion.domain.errors import DomainError

TRANSACTIONAL_PATH: Final = "/api/transactional/push"
INSTANT_PATH: Final = "/api/push/instant"
#: traceId lives in its own idempotency namespace so it never meets a native key.
TRACE_PREFIX = "dengage:"
TRACKING_PREFIX = "dengage-tracking:"

router = dialect_router(DENGAGE)


async def _caller(request: Request) -> Caller:
    """The platform's TransactionalPush.Manage permission is the key's `send` scope."""
    return await authorize(request, DENGAGE, bearer_token(request))


async def _check_app(state: AppState, caller: Caller, app_id: str, field: str) -> None:
    if not caller.may_use_app(app_id):
        message = f"the API user may not send for app {app_id!r}"
        raise Problem(Kind.FORBIDDEN, message, field)
    if not await owns_app(state, caller, app_id):
        raise Problem(Kind.NOT_FOUND, f"application {app_id!r} was not found", field)


@router.post(TRANSACTIONAL_PATH)
async def send_transactional_push(request: Request) -> Response:
    """SendTransactionalPush: one push to a contact's devices or to one device token."""
    state = state_from(request)
    caller = await _caller(request)
    document = await json_object(request, DENGAGE)
    push = parse_model(TransactionalPush, document)
    push.check_targeting()
    if push.appId is not None:
        await _check_app(state, caller, push.appId, "appId")
    async with state.engine.connect() as conn:
        try:
            template = await template_document(conn, caller.project_id, push.templateId, utcnow())
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
    command = await off_loop(build_command, push, template, caller.app_ids, utcnow(), sms_template)
    try:
        accepted = await accept(
            state,
            caller,
            command,
            fingerprint=request_hash(document),
            idempotency_key=TRACE_PREFIX + push.traceId if push.traceId else None,
        )
    except IdempotencyConflict:
        message = "this traceId was used for a different request"
        raise Problem(Kind.CONFLICT, message, "traceId") from None
    body: dict[str, Any] = {"success": True, "messageId": accepted.id}
    if push.traceId is not None:
        body["traceId"] = push.traceId
    return JSONResponse(body, status_code=200)


@router.post(INSTANT_PATH)
async def send_instant_push(request: Request) -> Response:
    """SendInstantPush: a broadcast to a segment, a table or every device of the applications."""
    state = state_from(request)
    caller = await _caller(request)
    document = await json_object(request, DENGAGE)
    push = parse_model(InstantPush, document)
    push.check_shape()
    for index, app_id in enumerate(push.applicationIds):
        await _check_app(state, caller, app_id, f"applicationIds[{index}]")
    template_id = push.template_id()
    if template_id is not None:
        async with state.engine.connect() as conn:
            try:
                contents = await template_document(conn, caller.project_id, template_id, utcnow())
            except DomainError as exc:
                raise from_domain(exc, "content.templateId") from None
    else:
        contents = push.native_contents()
    native = push.broadcast_document(contents, utcnow())
    tracking_id = push.tracking_id()
    try:
        command = await off_loop(parse_send_command, native, caller.app_ids)
        accepted = await accept(
            state,
            caller,
            command,
            fingerprint=request_hash(document),
            # A caller's own trackingId makes a retry answer the first send.
            idempotency_key=TRACKING_PREFIX + tracking_id if push.trackingId else None,
        )
    except IdempotencyConflict:
        message = "this trackingId was used for a different request"
        raise Problem(Kind.CONFLICT, message, "trackingId") from None
    except DomainError as exc:
        raise _instant_error(exc, push) from None
    body = {"success": True, "trackingId": tracking_id, "messageId": accepted.id}
    return JSONResponse(body, status_code=200)


def _instant_error(exc: DomainError, push: InstantPush) -> Problem:
    field = instant_field(exc.field)
    if exc.code == "NOT_FOUND" and field == "segmentId":
        message = f"segment {push.segmentId!r} was not found"
        return Problem(Kind.NOT_FOUND, message, field)
    if exc.code == "NOT_FOUND" and field == "tableId":
        return Problem(Kind.NOT_FOUND, f"table {push.tableId!r} was not found", field)
    return from_domain(exc, field)


# Other methods on the two paths answer 405; other paths under their prefixes 404.
for _prefix in ("/api/transactional", "/api/push"):
    add_catch_all(router, DENGAGE, _prefix, known_paths=(TRANSACTIONAL_PATH, INSTANT_PATH))
