"""Static lists of contacts: create, read, delete, and bulk membership by external id."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError, malformed, not_found
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import Name, StrictModel
from clarion.domain.safe_input import check_text, loads_checked
from clarion.domain.vocabulary import ErrorCode
from clarion.store import lists as list_store

router = APIRouter(tags=["lists"], route_class=CheckedRoute)

#: External ids per membership request; bigger files go through `clarion import`.
MAX_IDS_PER_REQUEST = 10_000
MAX_EXTERNAL_ID = 256

_MEMBERS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "external_ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": MAX_IDS_PER_REQUEST,
                        }
                    },
                    "required": ["external_ids"],
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "One external id per line, or a header row with external_id",
                }
            },
        },
    }
}


class ListIn(StrictModel):
    """A new list."""

    name: Name
    description: str | None = None


def list_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of a list."""
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "member_count": int(row["member_count"] or 0),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


@router.post("/v1/lists", status_code=201)
async def create_list(
    body: ListIn,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Create an empty static list."""
    async with state.engine.begin() as conn:
        row = await list_store.create_list(conn, context.project_id, body.name, body.description)
    return list_out(row)


@router.get("/v1/lists")
async def list_lists(
    page: Page = Depends(),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """The project's lists."""
    async with state.engine.connect() as conn:
        rows = await list_store.list_lists(conn, context.project_id, page.after_int(), page.limit)
    return page.envelope([list_out(r) for r in rows], rows[-1]["pk"] if rows else None)


@router.get("/v1/lists/{list_id}")
async def get_list(
    list_id: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """One list with its member count."""
    return list_out(await _own_list(state, context, list_id))


@router.delete("/v1/lists/{list_id}", status_code=204)
async def delete_list(
    list_id: str,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> Response:
    """Delete a list; its contacts stay."""
    async with state.engine.begin() as conn:
        if not await list_store.delete_list(conn, context.project_id, list_id):
            raise not_found("list", "list_id")
    return Response(status_code=204)


@router.post("/v1/lists/{list_id}/members", openapi_extra=_MEMBERS_BODY)
async def add_members(
    list_id: str,
    request: Request,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Add contacts by external id (JSON or CSV body); unknown contacts are created."""
    external_ids = await _external_ids(request)
    found = await _own_list(state, context, list_id)
    async with state.engine.begin() as conn:
        added = await list_store.add_members(conn, context.project_id, found["pk"], external_ids)
        total = await list_store.member_count(conn, found["pk"])
    return {"added": added, "member_count": total}


@router.post("/v1/lists/{list_id}/members/remove", openapi_extra=_MEMBERS_BODY)
async def remove_members(
    list_id: str,
    request: Request,
    context: ProjectContext = project_scope("registry"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Remove contacts by external id (JSON or CSV body)."""
    external_ids = await _external_ids(request)
    found = await _own_list(state, context, list_id)
    async with state.engine.begin() as conn:
        removed = await list_store.remove_members(
            conn, context.project_id, found["pk"], external_ids
        )
        total = await list_store.member_count(conn, found["pk"])
    return {"removed": removed, "member_count": total}


@router.get("/v1/lists/{list_id}/members")
async def list_members(
    list_id: str,
    page: Page = Depends(),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Members of a list, a page at a time."""
    found = await _own_list(state, context, list_id)
    async with state.engine.connect() as conn:
        rows = await list_store.list_members_page(conn, found["pk"], page.after_int(), page.limit)
    items = [{"external_id": r["external_id"], "added_at": r["added_at"].isoformat()} for r in rows]
    return page.envelope(items, rows[-1]["contact_pk"] if rows else None)


async def _own_list(state: AppState, context: ProjectContext, list_id: str) -> dict[str, Any]:
    async with state.engine.connect() as conn:
        found = await list_store.get_list(conn, context.project_id, list_id)
    if found is None:
        raise not_found("list", "list_id")
    return found


async def _external_ids(request: Request) -> list[str]:
    """External ids from a JSON body `{"external_ids": [...]}` or a CSV body."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if media_type == "text/csv":
        try:
            ids = parse_csv_ids(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise malformed("body", "the CSV body must be UTF-8") from exc
        except csv.Error as exc:
            raise malformed("body", f"the CSV body cannot be read: {exc}") from exc
        field = "body"
    elif media_type in ("application/json", ""):
        try:
            document = loads_checked(raw)
        except ValueError as exc:
            raise malformed("body", "the body is not valid JSON") from exc
        values = document.get("external_ids") if isinstance(document, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise malformed("external_ids", "external_ids must be a list of strings")
        ids, field = values, "external_ids"
    else:
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send application/json or text/csv",
            "Content-Type",
        )
    if len(ids) > MAX_IDS_PER_REQUEST:
        raise malformed(field, f"at most {MAX_IDS_PER_REQUEST} external ids per request")
    for index, value in enumerate(ids):
        if not value.strip() or len(value) > MAX_EXTERNAL_ID:
            raise malformed(
                f"{field}[{index}]", f"an external id is 1 to {MAX_EXTERNAL_ID} characters"
            )
        check_text(value, f"{field}[{index}]")
    return ids


def parse_csv_ids(text: str) -> list[str]:
    """External ids of a CSV: the external_id column if a header names it, else the first one."""
    # newline="" lets the csv module see CR-only and CRLF line ends as the ends they are.
    return list(iter_csv_ids(io.StringIO(text, newline="")))


def iter_csv_ids(lines: Iterable[str]) -> Iterator[str]:
    """Stream external ids out of CSV lines (any iterable of lines)."""
    column = 0
    for number, row in enumerate(csv.reader(lines)):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 0 and "external_id" in [cell.strip().lower() for cell in row]:
            column = [cell.strip().lower() for cell in row].index("external_id")
            continue
        if column < len(row) and row[column].strip():
            yield row[column].strip()
