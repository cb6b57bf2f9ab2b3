"""Contacts of a project, keyed by external id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import not_found
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import (
    Attributes,
    Email,
    ExternalId,
    Language,
    PhoneNumber,
    StrictModel,
    TimeZone,
)
from clarion.store import contacts as contact_store

router = APIRouter(tags=["contacts"], route_class=CheckedRoute)


class ContactIn(StrictModel):
    """Fields of a contact; those left out keep their stored value."""

    email: Email | None = None
    phone: PhoneNumber | None = None
    language: Language | None = None
    timezone: TimeZone | None = None
    attributes: Attributes | None = None


def contact_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of a contact."""
    return {
        "external_id": row["external_id"],
        "email": row["email"],
        "phone": row["phone"],
        "language": row["language"],
        "timezone": row["timezone"],
        "attributes": row["attributes"] or {},
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


@router.put("/v1/contacts/{external_id}")
async def put_contact(
    external_id: ExternalId,
    body: ContactIn,
    response: Response,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create or update a contact (fields absent from the body are kept)."""
    fields = body.model_dump(exclude_unset=True)
    async with state.engine.begin() as conn:
        row, created = await contact_store.upsert_contact(
            conn, context.project_id, external_id, fields
        )
    response.status_code = 201 if created else 200
    return contact_out(row)


@router.get("/v1/contacts/{external_id}")
async def get_contact(
    external_id: ExternalId,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Fetch a contact."""
    async with state.engine.connect() as conn:
        row = await contact_store.get_contact(conn, context.project_id, external_id)
    if row is None:
        raise not_found("contact", "external_id")
    return contact_out(row)


@router.get("/v1/contacts")
async def list_contacts(
    page: Page = Depends(),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List the project's contacts."""
    async with state.engine.connect() as conn:
        rows = await contact_store.list_contacts(
            conn, context.project_id, page.after_int(), page.limit
        )
    return page.envelope([contact_out(r) for r in rows], rows[-1]["pk"] if rows else None)


@router.delete("/v1/contacts/{external_id}", status_code=204)
async def delete_contact(
    external_id: ExternalId,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete a contact; its installations are kept, unlinked."""
    async with state.engine.begin() as conn:
        if not await contact_store.delete_contact(conn, context.project_id, external_id):
            raise not_found("contact", "external_id")
    return Response(status_code=204)
