"""Installations of an app: one device's token or web push subscription."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import Field, StringConstraints, field_validator

from clarion.api.auth import ProjectContext, project_scope, resolve_app
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError, not_found
from clarion.api.outbound import check_outbound_url
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import (
    Attributes,
    ExternalId,
    Language,
    StrictModel,
    Tag,
    TimeZone,
    WebPushSubscription,
)
from clarion.domain.vocabulary import DevicePlatform, ErrorCode
from clarion.store import contacts as contact_store
from clarion.store import installations as installation_store

router = APIRouter(tags=["installations"], route_class=CheckedRoute)

_APNS_TOKEN = re.compile(r"^[0-9a-fA-F]{64,200}$")
_OPAQUE_TOKEN = re.compile(r"^\S{1,4096}$")

InstallationId = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class InstallationIn(StrictModel):
    """A device registration; PUT replaces the whole installation."""

    platform: Literal["ios", "android", "web", "huawei"]
    token: Annotated[str, StringConstraints(max_length=4096)] | None = None
    subscription: WebPushSubscription | None = None
    external_id: ExternalId | None = None
    language: Language | None = None
    timezone: TimeZone | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    attributes: Attributes = Field(default_factory=dict)
    advertising_id: str | None = None
    sandbox: bool = False

    @field_validator("advertising_id")
    @classmethod
    def _advertising_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise ValueError("must be an IDFA/GAID in UUID form") from exc


def _check_address(body: InstallationIn) -> None:
    """Each platform needs its own kind of address."""
    platform = DevicePlatform(body.platform)
    if platform == DevicePlatform.WEB:
        if body.subscription is None:
            raise ApiError(
                400,
                ErrorCode.MISSING_PARAMETER,
                "web installations need a subscription",
                "subscription",
            )
        if body.token is not None:
            raise ApiError(
                400,
                ErrorCode.MALFORMED_PARAMETER,
                "web installations use subscription, not token",
                "token",
            )
        return
    if body.subscription is not None:
        raise ApiError(
            400,
            ErrorCode.MALFORMED_PARAMETER,
            f"{body.platform} installations use token, not subscription",
            "subscription",
        )
    if body.token is None:
        raise ApiError(
            400, ErrorCode.MISSING_PARAMETER, f"{body.platform} installations need a token", "token"
        )
    pattern = _APNS_TOKEN if platform == DevicePlatform.IOS else _OPAQUE_TOKEN
    if not pattern.fullmatch(body.token) or (
        platform == DevicePlatform.IOS and len(body.token) % 2
    ):
        expected = (
            "an even number (64 or more) of hex digits"
            if platform == DevicePlatform.IOS
            else "1-4096 characters without spaces"
        )
        raise ApiError(400, ErrorCode.MALFORMED_PARAMETER, f"token must be {expected}", "token")


def installation_out(app_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of an installation."""
    return {
        "installation_id": row["installation_id"],
        "app_id": app_id,
        "platform": row["platform"],
        "token": row["token"],
        "subscription": row["subscription"],
        "external_id": row.get("external_id"),
        "language": row["language"],
        "timezone": row["timezone"],
        "tags": row["tags"] or [],
        "attributes": row["attributes"] or {},
        "advertising_id": row["advertising_id"],
        "sandbox": bool(row["sandbox"]),
        "valid": row["invalidated_at"] is None,
        "invalid_reason": row["invalid_reason"],
        "last_engaged_at": row["last_engaged_at"].isoformat() if row["last_engaged_at"] else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


@router.put("/v1/apps/{app_id}/installations/{installation_id}")
async def put_installation(
    app_id: str,
    installation_id: InstallationId,
    body: InstallationIn,
    response: Response,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create or replace an installation (an upsert keyed by installation id)."""
    _check_address(body)
    if body.subscription is not None:
        check_outbound_url(
            state.settings.outbound_policy, body.subscription.endpoint, "subscription.endpoint"
        )
    app = await resolve_app(state, context, app_id)
    values = body.model_dump(exclude={"external_id"})
    if body.subscription is not None:
        # The endpoint is a web device's address: stored as its token so sends can name it.
        values["token"] = body.subscription.endpoint
    async with state.engine.begin() as conn:
        values["contact_pk"] = (
            await contact_store.ensure_contact(conn, context.project_id, body.external_id)
            if body.external_id
            else None
        )
        row, created = await installation_store.upsert_installation(
            conn, app["pk"], installation_id, values
        )
    response.status_code = 201 if created else 200
    return installation_out(app_id, row)


@router.get("/v1/apps/{app_id}/installations/{installation_id}")
async def get_installation(
    app_id: str,
    installation_id: InstallationId,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Fetch an installation."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.connect() as conn:
        row = await installation_store.get_installation(conn, app["pk"], installation_id)
    if row is None:
        raise not_found("installation", "installation_id")
    return installation_out(app_id, row)


@router.get("/v1/apps/{app_id}/installations")
async def list_installations(
    app_id: str,
    page: Page = Depends(),
    external_id: ExternalId | None = None,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List an app's installations, optionally those of one contact."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.connect() as conn:
        contact_pk = None
        if external_id is not None:
            contact = await contact_store.get_contact(conn, context.project_id, external_id)
            if contact is None:
                return page.envelope([], None)
            contact_pk = contact["pk"]
        rows = await installation_store.list_installations(
            conn, app["pk"], page.after_int(), page.limit, contact_pk
        )
    return page.envelope(
        [installation_out(app_id, r) for r in rows], rows[-1]["pk"] if rows else None
    )


@router.delete("/v1/apps/{app_id}/installations/{installation_id}", status_code=204)
async def delete_installation(
    app_id: str,
    installation_id: InstallationId,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete an installation."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.begin() as conn:
        if not await installation_store.delete_installation(conn, app["pk"], installation_id):
            raise not_found("installation", "installation_id")
    return Response(status_code=204)
