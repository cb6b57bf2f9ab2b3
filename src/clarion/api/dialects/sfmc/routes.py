"""HTTP routes of the sfmc dialect; every failure under /push/v1 answers in its error bodies."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from clarion.api import dialect_store
from clarion.api.auth import bearer_token
from clarion.api.dialects.kit import (
    Caller,
    Kind,
    Problem,
    add_catch_all,
    authorize,
    dialect_router,
    json_object,
    owns_app,
)
from clarion.api.dialects.kit.native import accept, parse_send_command, request_hash, utcnow
from clarion.api.dialects.sfmc.definition import Definition, parse_definition
from clarion.api.dialects.sfmc.errors import SFMC, bad_request
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
from clarion.api.offload import off_loop
from clarion.api.state import AppState, state_from
from clarion.domain.errors import DomainError

router = dialect_router(SFMC)


async def _caller(request: Request, scope: str) -> Caller:
    """The caller; reading a definition needs `read`, everything else `send`."""
    return await authorize(request, SFMC, bearer_token(request), scope=scope)


async def _valid_definition(
    state: AppState, caller: Caller, document: dict[str, Any]
) -> dict[str, Any]:
    definition, problems = parse_definition(document)
    if definition is None:
        raise bad_request(*problems)
    app_id = definition.application.id
    if not await owns_app(state, caller, app_id) or not caller.may_use_app(app_id):
        raise bad_request(f"Application {app_id} is not valid for the client.")
    return definition.echo()


def _unknown(message_id: str, kind: Kind) -> Problem:
    return Problem(kind, f"Message {message_id} is not valid for the client.")


async def _stored(
    state: AppState, caller: Caller, message_id: str, missing: Kind
) -> dict[str, Any]:
    """The stored definition; `missing` is how an unknown one is answered (404, or 400 on sends)."""
    check_message_id(message_id)
    definition = await dialect_store.read_definition(state.engine, caller.project_id, message_id)
    if definition is None:
        raise _unknown(message_id, missing)
    return definition


@router.post("/push/v1/message")
async def create_message(request: Request) -> Response:
    """Create a push message definition; 201 echoes it with its id."""
    state = state_from(request)
    caller = await _caller(request, "send")
    echo = await _valid_definition(state, caller, await json_object(request, SFMC))
    message_id = await dialect_store.create_definition(state.engine, caller.project_id, echo)
    return JSONResponse({"id": message_id, **echo}, status_code=201)


@router.get("/push/v1/message/{message_id}")
async def get_message(request: Request, message_id: str) -> Response:
    """Read a definition."""
    state = state_from(request)
    caller = await _caller(request, "read")
    definition = await _stored(state, caller, message_id, Kind.NOT_FOUND)
    return JSONResponse({"id": message_id, **definition})


@router.patch("/push/v1/message/{message_id}")
async def update_message(request: Request, message_id: str) -> Response:
    """Update a definition: the given fields replace the stored ones, then all is re-validated."""
    state = state_from(request)
    caller = await _caller(request, "send")
    changes = await json_object(request, SFMC)
    merged = {**await _stored(state, caller, message_id, Kind.NOT_FOUND), **changes}
    merged.pop("id", None)
    echo = await _valid_definition(state, caller, merged)
    await dialect_store.replace_definition(state.engine, caller.project_id, message_id, echo)
    return JSONResponse({"id": message_id, **echo})


# PUT is accepted as a synonym of PATCH; only PATCH is listed in the OpenAPI document.
router.add_api_route(
    "/push/v1/message/{message_id}", update_message, methods=["PUT"], include_in_schema=False
)


@router.delete("/push/v1/message/{message_id}")
async def delete_message(request: Request, message_id: str) -> Response:
    """Delete a definition; later sends of it answer that it is not valid."""
    state = state_from(request)
    caller = await _caller(request, "send")
    check_message_id(message_id)
    if not await dialect_store.delete_definition(state.engine, caller.project_id, message_id):
        raise _unknown(message_id, Kind.NOT_FOUND)
    return Response(status_code=204)


async def _sendable(
    request: Request, message_id: str
) -> tuple[AppState, Caller, Definition, dict[str, Any]]:
    state = state_from(request)
    caller = await _caller(request, "send")
    document = await json_object(request, SFMC)
    definition = Definition.model_validate(await _stored(state, caller, message_id, Kind.INVALID))
    check_sendable(message_id, definition, utcnow())
    return state, caller, definition, document


async def _accept(
    state: AppState, caller: Caller, message_id: str, native: dict[str, Any], raw: Any
) -> Response:
    command = await off_loop(build_command, native, caller.app_ids)
    fingerprint = request_hash({"message": message_id, "body": raw})
    accepted = await accept(state, caller, command, fingerprint=fingerprint)
    return JSONResponse({"tokenId": accepted.id}, status_code=202)


@router.post("/push/v1/messageContact/{message_id}/send")
async def send_to_contacts(request: Request, message_id: str) -> Response:
    """Send a definition to device tokens and/or subscriber keys (5000 each at most)."""
    state, caller, definition, document = await _sendable(request, message_id)
    body: ContactSend = parse_body(ContactSend, document)
    check_audience(body, definition)
    text = contact_text(message_id, body, definition)
    native = contact_document(definition, text, body, body, utcnow())
    return await _accept(state, caller, message_id, native, document)


@router.post("/push/v1/messageBatch/{message_id}/send")
async def send_batch(request: Request, message_id: str) -> Response:
    """Send a definition with the batch's own alert to explicit recipients."""
    state, caller, definition, document = await _sendable(request, message_id)
    body: BatchSend = parse_body(BatchSend, document)
    check_audience(body, definition)
    message = batch_message(body)
    if not message.alert.strip():
        raise bad_request("Message is blank and no override message was provided.")
    native = contact_document(definition, message.alert, body, message, utcnow())
    return await _accept(state, caller, message_id, native, document)


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
    fingerprint = request_hash({"message": message_id, "body": raw})
    try:
        command = await off_loop(parse_send_command, native, caller.app_ids)
        accepted = await accept(state, caller, command, fingerprint=fingerprint)
    except DomainError as exc:
        raise audience_error(exc, audience) from None
    return JSONResponse({"tokenId": accepted.id}, status_code=202)


@router.post("/push/v1/messageList/{message_id}/send")
async def send_to_lists(request: Request, message_id: str) -> Response:
    """Send a definition to the contacts of one list (inclusionListIds, else the definition's)."""
    state, caller, definition, document = await _sendable(request, message_id)
    body = parse_body(ListSend, document)
    audience = list_audience(definition, body)
    return await _broadcast(
        state, caller, message_id, definition, body, audience, body.sendTime, document
    )


@router.post("/push/v1/messageTag/{message_id}/send")
async def send_to_tags(request: Request, message_id: str) -> Response:
    """Send a definition to the devices carrying any of inclusionTags and none of exclusionTags."""
    state, caller, definition, document = await _sendable(request, message_id)
    body = parse_body(TagSend, document)
    audience = tag_audience(definition, body)
    return await _broadcast(
        state, caller, message_id, definition, body, audience, body.sendTime, document
    )


# Any other path or method under the prefix answers 404 in the errors list.
add_catch_all(router, SFMC, "/push/v1")
