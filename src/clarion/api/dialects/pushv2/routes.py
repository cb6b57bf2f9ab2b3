"""HTTP routes of the pushv2 dialect: the push and the prefix's catch-all."""

from __future__ import annotations

from typing import Final

from fastapi import Depends, Request
from fastapi.responses import Response

from clarion.api.dialects.kit import add_catch_all, authorize, dialect_router
from clarion.api.dialects.kit.native import accept, parse_send_command, request_hash
from clarion.api.dialects.pushv2.errors import PUSHV2, all_missing, from_domain, render
from clarion.api.dialects.pushv2.translate import (
    native_document,
    parse_json,
    parse_xml,
    request_format,
    response_format,
)
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.domain.errors import DomainError

PREFIX: Final = "/api/v2"
PUSH_PATH: Final = PREFIX + "/push"

router = dialect_router(PUSHV2)


@router.post(PUSH_PATH, response_model=None)
async def push(request: Request, state: AppState = Depends(get_state)) -> Response:
    """Send one push to one user; answers 200 with the Clarion send id."""
    input_format = request_format(request.headers.get("content-type"))
    output = response_format(request.query_params.get("format"), input_format)
    raw = await request.body()
    fields = parse_json(raw) if input_format == "json" else parse_xml(raw)
    # CompanyId and IntegrationKey are the credentials; the key must be a sending key.
    absent = [name for name in ("CompanyId", "IntegrationKey") if fields.get(name) in (None, "")]
    if absent:
        raise all_missing(absent)
    caller = await authorize(request, PUSHV2, str(fields["IntegrationKey"]).strip())
    native, user_field = native_document(fields)
    try:
        command = await off_loop(parse_send_command, native, caller.app_ids)
    except DomainError as exc:
        raise from_domain(exc, user_field) from None
    accepted = await accept(state, caller, command, fingerprint=request_hash(native))
    body = {"Id": accepted.id, "Status": accepted.status}
    return render(body, "PushResponse", 200, output)


# Other methods on the push path answer 405; other paths under /api/v2/ answer 404.
add_catch_all(router, PUSHV2, PREFIX, known_paths=(PUSH_PATH,))
