"""Send preview: the exact provider requests a send would make for one recipient, unsent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.api.v1.validators import Slug, StrictModel
from clarion.delivery.rendering import (
    Compiled,
    compile_command,
    provider_request,
    render_for_device,
)
from clarion.domain.command import SendCommand, parse_send_command
from clarion.domain.errors import DomainError
from clarion.domain.personalize import RenderLimitError
from clarion.domain.vocabulary import ErrorCode, provider_of
from clarion.sending.media_check import check_media
from clarion.sending.templates import expand_template
from clarion.store import apps as app_store
from clarion.store.devices import device_from_row, select_devices
from clarion.store.tables import apps, installations
from clarion.store.targeting import Target, resolve
from clarion.store.types import utcnow

router = APIRouter(tags=["sends"], route_class=CheckedRoute)

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class PreviewRecipient(StrictModel):
    """One device (app_id + installation_id, or token) or one contact (external_id)."""

    app_id: Slug | None = Field(None, description="With installation_id; else limits the search")
    installation_id: Identifier | None = None
    token: Identifier | None = None
    external_id: Identifier | None = None
    all_devices: bool = Field(
        False, description="For external_id: every device rather than the most recent one"
    )

    @model_validator(mode="after")
    def _one_form(self) -> PreviewRecipient:
        given = [
            name
            for name in ("installation_id", "token", "external_id")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of installation_id, token or external_id")
        if self.installation_id is not None and self.app_id is None:
            raise ValueError("installation_id needs app_id")
        return self

    def recipients(self) -> dict[str, Any]:
        """The equivalent recipients of a native send."""
        if self.installation_id is not None:
            return {"installation_ids": [self.installation_id]}
        if self.token is not None:
            return {"tokens": [self.token]}
        return {"external_ids": [self.external_id], "all_devices": self.all_devices}


class PreviewIn(StrictModel):
    """A send body (without recipients) and the one recipient to preview it for."""

    recipient: PreviewRecipient
    content: dict[str, Any] | None = None
    contents: list[dict[str, Any]] | None = None
    template_id: str | None = None
    options: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    language: str | None = None


def _recipient_field(exc: DomainError) -> DomainError:
    # The preview names its recipient "recipient", not a send's "recipients".
    if exc.field and exc.field.startswith("recipients"):
        return DomainError(exc.code, exc.message, "recipient")
    return exc


async def _device_rows(conn: AsyncConnection, pks: list[int]) -> dict[int, Any]:
    query = select_devices(installations.c.pk, apps.c.id.label("app_id")).where(
        installations.c.pk.in_(pks)
    )
    return {row.pk: row for row in await conn.execute(query)}


async def _preview_device(
    conn: AsyncConnection, command: SendCommand, compiled: Compiled, target: Target, row: Any
) -> dict[str, Any]:
    provider = provider_of(row.platform)
    entry: dict[str, Any] = {
        "platform": row.platform,
        "provider": provider,
        "app_id": row.app_id,
        "installation_id": row.installation_id,
    }
    if target.invalid_reason is not None:
        return entry | {"skipped": f"the device is invalid: {target.invalid_reason}"}
    if provider is None:
        return entry | {"skipped": f"no provider serves platform {row.platform}"}
    credentials = await app_store.get_credentials(conn, row.app_pk, provider)
    if credentials is None:
        return entry | {"skipped": f"the app has no {provider} credentials"}
    public = credentials["public_config"]
    device = device_from_row(row)
    try:
        rendered = await off_loop(
            render_for_device, command, compiled, device, public, send_id=None, now=utcnow()
        )
    except RenderLimitError:
        raise  # a template bomb is the request's fault, not this device's
    except DomainError as exc:
        return entry | {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    payload = rendered.payload
    return entry | {
        "language": rendered.language,
        "request": provider_request(rendered, device, public),
        "size": payload.size,
        "limited_size": payload.limited_size,
        "limit": payload.limit,
    }


@router.post("/v1/sends/preview")
async def preview_send(
    body: PreviewIn,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Per device of the recipient: language chosen, provider request, sizes and limit."""
    recipient = body.recipient
    document = body.model_dump(exclude={"recipient"}, exclude_none=True)
    document["recipients"] = recipient.recipients()
    if recipient.app_id is not None:
        document["apps"] = [recipient.app_id]
    if body.template_id is not None:
        async with state.engine.connect() as conn:
            document = await expand_template(conn, context.project_id, document, utcnow())
    try:
        command = await off_loop(parse_send_command, document, context.principal.app_ids, utcnow())
    except DomainError as exc:
        raise _recipient_field(exc) from None
    await check_media(
        command.message,
        "contents" if "contents" in document else "content",
        extra_ca_file=state.settings.extra_ca_file,
        outbound=state.settings.outbound_policy,
    )
    compiled = await off_loop(compile_command, command)
    async with state.engine.connect() as conn:
        targets, _ = await resolve(conn, context.project_id, command.recipients, command.apps)
        if recipient.external_id is not None and not recipient.all_devices:
            targets = targets[:1]  # resolved most recent first
        if not targets:
            raise ApiError(404, ErrorCode.NOT_FOUND, "no device matches the recipient", "recipient")
        rows = await _device_rows(conn, [target.installation_pk for target in targets])
        devices = [
            await _preview_device(conn, command, compiled, target, rows[target.installation_pk])
            for target in targets
        ]
    return {"devices": devices}
