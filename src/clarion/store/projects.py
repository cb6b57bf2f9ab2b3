"""Projects: the tenants that own apps, contacts and API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.keys import forget_keys
from clarion.store.tables import projects
from clarion.store.types import utcnow


async def create_project(conn: AsyncConnection, project_id: str, name: str) -> dict[str, Any]:
    """Insert a project and return it."""
    row = {"id": project_id, "name": name, "created_at": utcnow()}
    await conn.execute(projects.insert().values(**row))
    return row


async def get_project(conn: AsyncConnection, project_id: str) -> dict[str, Any] | None:
    """Fetch one project."""
    row = (await conn.execute(select(projects).where(projects.c.id == project_id))).mappings()
    found = row.first()
    return dict(found) if found else None


async def list_projects(
    conn: AsyncConnection, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """List projects ordered by id, after a cursor."""
    query = select(projects).order_by(projects.c.id).limit(limit)
    if after is not None:
        query = query.where(projects.c.id > after)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_project(conn: AsyncConnection, project_id: str) -> bool:
    """Delete a project and, by cascade, everything it owns."""
    forget_keys()
    result = await conn.execute(delete(projects).where(projects.c.id == project_id))
    return bool(result.rowcount)
