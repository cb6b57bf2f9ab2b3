"""Projects: the tenants that own apps, contacts and API keys."""

from __future__ import annotations

import time
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


#: How long a project found by `project_exists` is trusted without reading it again; a
#: deletion by this process is seen at once, one by another process within this time.
PROJECT_CACHE_SECONDS = 2.0
_seen: dict[str, float] = {}


def project_known(project_id: str) -> bool:
    """Whether `project_exists` found the project in the last PROJECT_CACHE_SECONDS."""
    expires = _seen.get(project_id)
    return expires is not None and expires > time.monotonic()


async def project_exists(conn: AsyncConnection, project_id: str) -> bool:
    """Whether a project exists (remembered briefly: the admin key names it on every call)."""
    if project_known(project_id):
        return True
    if await get_project(conn, project_id) is None:
        return False
    if len(_seen) > 10_000:
        _seen.clear()
    _seen[project_id] = time.monotonic() + PROJECT_CACHE_SECONDS
    return True


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
    _seen.pop(project_id, None)
    result = await conn.execute(delete(projects).where(projects.c.id == project_id))
    return bool(result.rowcount)
