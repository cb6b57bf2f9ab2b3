"""HTTP routes of the batch dialect: the transactional send and the prefix's catch-all."""

from __future__ import annotations

from typing import Final

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from clarion.api.dialects.batch.errors import AUTH_HEADER, BATCH
from clarion.api.dialects.batch.translate import native_document
from clarion.api.dialects.kit import (
    Kind,
    Problem,
    add_catch_all,
    authorize,
    dialect_router,
    json_object,
)
from clarion.api.dialects.kit.native import (
    MB,
    MediaRule,
    accept,
    check_media,
    parse_send_command,
    request_hash,
)
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.domain.safe_input import text_problem

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

router = dialect_router(BATCH)


@router.post(SEND_PATH, status_code=201, response_model=None)
async def transactional_send(
    app_api_key: str, request: Request, state: AppState = Depends(get_state)
) -> Response:
    """Send one push to explicit recipients of one app; answers 201 {"token": <send id>}."""
    if text_problem(app_api_key) is not None:
        raise Problem(Kind.UNAUTHORIZED, BATCH.wording.unknown_app)
    # The REST key of X-Authorization must be a sending key of the project owning the app.
    presented = request.headers.get(AUTH_HEADER, "").strip() or None
    caller = await authorize(request, BATCH, presented, app_id=app_api_key)
    native = native_document(await json_object(request, BATCH), app_api_key)
    command = await off_loop(parse_send_command, native, caller.app_ids)
    field = "contents" if "contents" in native else "content"
    await check_media(
        command.message,
        field,
        extra_ca_file=state.settings.extra_ca_file,
        rules=MEDIA_RULES,
        outbound=state.settings.outbound_policy,
    )
    accepted = await accept(state, caller, command, fingerprint=request_hash(native))
    return JSONResponse({"token": accepted.id}, status_code=201)


# Every other path or method under the prefix answers ROUTE_NOT_FOUND.
add_catch_all(router, BATCH, PREFIX)
