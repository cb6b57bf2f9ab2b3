"""A contact's inbox: stored messages of sends, newest first; mark read, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import not_found
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.domain.safe_input import INT64_MAX
from clarion.store import contacts as contact_store
from clarion.store import inbox as inbox_store
from clarion.store.types import utcnow

router = APIRouter(tags=["inbox"], route_class=CheckedRoute)

#: Inbox item ids are 64-bit; a larger number can only be a mistake.
ItemId = Annotated[int, Path(ge=1, le=INT64_MAX)]


def item_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of an inbox item."""
    return {
        "id": row["id"],
        "send_id": row["send_id"],
        "title": row["title"],
        "body": row["body"],
        "deeplink": row["deeplink"],
        "data": row["data"],
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
        "read": row["read_at"] is not None,
        "read_at": row["read_at"].isoformat() if row["read_at"] else None,
    }


async def _contact_pk(state: AppState, context: ProjectContext, external_id: str) -> int:
    async with state.engine.connect() as conn:
        contact = await contact_store.get_contact(conn, context.project_id, external_id)
    if contact is None:
        raise not_found("contact", "external_id")
    return int(contact["pk"])


@router.get("/v1/contacts/{external_id}/inbox")
async def list_inbox(
    external_id: str,
    page: Page = Depends(),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Unexpired items of the contact, newest first."""
    contact_pk = await _contact_pk(state, context, external_id)
    async with state.engine.connect() as conn:
        rows = await inbox_store.list_items(
            conn, contact_pk, utcnow(), page.after_int(), page.limit
        )
    return page.envelope([item_out(r) for r in rows], rows[-1]["id"] if rows else None)


@router.post("/v1/contacts/{external_id}/inbox/{item_id}/read")
async def read_item(
    external_id: str,
    item_id: ItemId,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Mark an item read (reading it again keeps the first time)."""
    contact_pk = await _contact_pk(state, context, external_id)
    async with state.engine.begin() as conn:
        if not await inbox_store.mark_read(conn, contact_pk, item_id, utcnow()):
            raise not_found("inbox item", "item_id")
        row = await inbox_store.get_item(conn, contact_pk, item_id)
    assert row is not None
    return item_out(row)


@router.delete("/v1/contacts/{external_id}/inbox/{item_id}", status_code=204)
async def delete_item(
    external_id: str,
    item_id: ItemId,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete an item from the contact's inbox."""
    contact_pk = await _contact_pk(state, context, external_id)
    async with state.engine.begin() as conn:
        if not await inbox_store.delete_item(conn, contact_pk, item_id):
            raise not_found("inbox item", "item_id")
    return Response(status_code=204)
