"""HTTP routes of the sfmc dialect; every failure under /push/v1 answers in its error bodies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from clarion.api.dialects.sfmc.auth import Caller, authorize
from clarion.api.dialects.sfmc.definition import Definition, parse_definition
from clarion.api.dialects.sfmc.errors import SfmcError, bad_request, from_domain
from clarion.api.dialects.sfmc.sending import (
    BatchSend,
    ContactSend,
    ListSend,
    TagSend,
    TextOverride,
    audience_error,
    batch_message,
    build_command,
    check_audience,
    check_message_id,
    check_sendable,
    contact_document,
    contact_text,
    engagement_fields,
    list_audience,
    native_document,
    parse_body,
    schedule_fields,
    tag_audience,
)
from clarion.api.errors import with_retry_after
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.domain.command import parse_send_command
from clarion.domain.errors import DomainError
from clarion.domain.safe_input import UnsafeInput, loads_checked
from clarion.sending.accept import accept_broadcast, accept_send, request_hash
from clarion.store import apps as app_store
from clarion.store import sfmc_messages as message_store
from clarion.store.outage import database_unreachable
from clarion.store.types import utcnow

router = APIRouter(tags=["dialect: sfmc"])
log = structlog.get_logger(__name__)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


async def _guarded(work: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await work()
    except SfmcError as exc:
        return exc.response()
    except DomainError as exc:
        return from_domain(exc).response()
    except Exception as exc:
        if database_unreachable(exc):
            log.warning("sfmc_database_unavailable", error=repr(exc))
            busy = SfmcError(503, ["The service is unavailable; try again later."])
            return with_retry_after(busy.response())
        log.exception("sfmc_request_failed")
        return SfmcError(500, ["An internal error occurred; see the server log."]).response()


async def _json(request: Request) -> Any:
    try:
        return loads_checked(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    except UnsafeInput as exc:
        raise bad_request(exc.message) from None


async def _json_object(request: Request) -> dict[str, Any]:
    document = await _json(request)
    if not isinstance(document, dict):
        raise bad_request("The request body must be a JSON object.")
    return document


async def _valid_definition(
    state: AppState, caller: Caller, document: dict[str, Any]
) -> dict[str, Any]:
    definition, problems = parse_definition(document)
    if definition is None:
        raise bad_request(*problems)
    app_id = definition.application.id
    async with state.engine.connect() as conn:
        app = await app_store.get_app(conn, app_id)
    if app is None or app["project_id"] != caller.project_id or not caller.may_use_app(app_id):
        raise bad_request(f"Application {app_id} is not valid for the client.")
    return definition.echo()


async def _stored(
    state: AppState, caller: Caller, message_id: str, missing_status: int
) -> dict[str, Any]:
    check_message_id(message_id)
    async with state.engine.connect() as conn:
        row = await message_store.get_message(conn, caller.project_id, message_id)
    if row is None:
        raise SfmcError(missing_status, [f"Message {message_id} is not valid for the client."])
    return row


@router.post("/push/v1/message")
async def create_message(request: Request) -> Response:
    """Create a push message definition; 201 echoes it with its id."""

    async def work() -> Response:
        state = get_state(request)
        caller = await authorize(request, state, "send")
        echo = await _valid_definition(state, caller, await _json_object(request))
        message_id = message_store.new_message_id()
        async with state.engine.begin() as conn:
            await message_store.insert_message(conn, message_id, caller.project_id, echo)
        return JSONResponse({"id": message_id, **echo}, status_code=201)

    return await _guarded(work)


@router.get("/push/v1/message/{message_id}")
async def get_message(request: Request, message_id: str) -> Response:
    """Read a definition."""

    async def work() -> Response:
        state = get_state(request)
        caller = await authorize(request, state, "read")
        row = await _stored(state, caller, message_id, 404)
        return JSONResponse({"id": message_id, **row["definition"]})

    return await _guarded(work)


@router.patch("/push/v1/message/{message_id}")
async def update_message(request: Request, message_id: str) -> Response:
    """Update a definition: the given fields replace the stored ones, then all is re-validated."""

    async def work() -> Response:
        state = get_state(request)
        caller = await authorize(request, state, "send")
        changes = await _json_object(request)
        row = await _stored(state, caller, message_id, 404)
        merged = {**row["definition"], **changes}
        merged.pop("id", None)
        echo = await _valid_definition(state, caller, merged)
        async with state.engine.begin() as conn:
            await message_store.replace_message(conn, caller.project_id, message_id, echo)
        return JSONResponse({"id": message_id, **echo})

    return await _guarded(work)


# PUT is accepted as a synonym of PATCH; only PATCH is listed in the OpenAPI document.
router.add_api_route(
    "/push/v1/message/{message_id}", update_message, methods=["PUT"], include_in_schema=False
)


@router.delete("/push/v1/message/{message_id}")
async def delete_message(request: Request, message_id: str) -> Response:
    """Delete a definition; later sends of it answer that it is not valid."""

    async def work() -> Response:
        state = get_state(request)
        caller = await authorize(request, state, "send")
        check_message_id(message_id)
        async with state.engine.begin() as conn:
            deleted = await message_store.delete_message(conn, caller.project_id, message_id)
        if not deleted:
            raise SfmcError(404, [f"Message {message_id} is not valid for the client."])
        return Response(status_code=204)

    return await _guarded(work)


async def _sendable(
    request: Request, message_id: str
) -> tuple[AppState, Caller, Definition, dict[str, Any]]:
    state = get_state(request)
    caller = await authorize(request, state, "send")
    document = await _json_object(request)
    row = await _stored(state, caller, message_id, 400)
    definition = Definition.model_validate(row["definition"])
    check_sendable(message_id, definition, utcnow())
    return state, caller, definition, document


async def _accept(
    state: AppState, caller: Caller, message_id: str, native: dict[str, Any], raw: Any
) -> Response:
    command = await off_loop(build_command, native, caller.app_ids)
    accepted = await accept_send(
        state.engine,
        state.queue,
        caller.project_id,
        command,
        fingerprint=request_hash({"message": message_id, "body": raw}),
    )
    return JSONResponse({"tokenId": accepted.id}, status_code=202)


@router.post("/push/v1/messageContact/{message_id}/send")
async def send_to_contacts(request: Request, message_id: str) -> Response:
    """Send a definition to device tokens and/or subscriber keys (5000 each at most)."""

    async def work() -> Response:
        state, caller, definition, document = await _sendable(request, message_id)
        body: ContactSend = parse_body(ContactSend, document)
        check_audience(body, definition)
        text = contact_text(message_id, body, definition)
        native = contact_document(definition, text, body, body, utcnow())
        return await _accept(state, caller, message_id, native, document)

    return await _guarded(work)


@router.post("/push/v1/messageBatch/{message_id}/send")
async def send_batch(request: Request, message_id: str) -> Response:
    """Send a definition with the batch's own alert to explicit recipients."""

    async def work() -> Response:
        state, caller, definition, document = await _sendable(request, message_id)
        body: BatchSend = parse_body(BatchSend, document)
        check_audience(body, definition)
        message = batch_message(body)
        if not message.alert.strip():
            raise bad_request("Message is blank and no override message was provided.")
        native = contact_document(definition, message.alert, body, message, utcnow())
        return await _accept(state, caller, message_id, native, document)

    return await _guarded(work)


async def _broadcast(
    state: AppState,
    caller: Caller,
    message_id: str,
    definition: Definition,
    body: TextOverride,
    audience: dict[str, Any],
    send_time: str | None,
    raw: Any,
) -> Response:
    now = utcnow()
    native = {
        **native_document(definition, contact_text(message_id, body, definition), body),
        **engagement_fields(definition, now),
        **schedule_fields(definition, send_time, now),
        **audience,
    }
    try:
        command = await off_loop(parse_send_command, native, caller.app_ids)
        accepted = await accept_broadcast(
            state.engine,
            state.queue,
            caller.project_id,
            command,
            fingerprint=request_hash({"message": message_id, "body": raw}),
        )
    except DomainError as exc:
        raise audience_error(exc, audience) from None
    return JSONResponse({"tokenId": accepted.id}, status_code=202)


@router.post("/push/v1/messageList/{message_id}/send")
async def send_to_lists(request: Request, message_id: str) -> Response:
    """Send a definition to the contacts of one list (inclusionListIds, else the definition's)."""

    async def work() -> Response:
        state, caller, definition, document = await _sendable(request, message_id)
        body = parse_body(ListSend, document)
        audience = list_audience(definition, body)
        return await _broadcast(
            state, caller, message_id, definition, body, audience, body.sendTime, document
        )

    return await _guarded(work)


@router.post("/push/v1/messageTag/{message_id}/send")
async def send_to_tags(request: Request, message_id: str) -> Response:
    """Send a definition to the devices carrying any of inclusionTags and none of exclusionTags."""

    async def work() -> Response:
        state, caller, definition, document = await _sendable(request, message_id)
        body = parse_body(TagSend, document)
        audience = tag_audience(definition, body)
        return await _broadcast(
            state, caller, message_id, definition, body, audience, body.sendTime, document
        )

    return await _guarded(work)


async def _unknown_route(request: Request) -> Response:
    return SfmcError(404, [f"No route {request.method} {request.url.path}."]).response()


router.add_api_route(
    "/push/v1/{rest:path}", _unknown_route, methods=_METHODS, include_in_schema=False
)
