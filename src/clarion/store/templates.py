"""Message templates: the `templates` table and its queries."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.metadata import metadata
from clarion.store.pagination import key_param
from clarion.store.types import UtcDateTime, utcnow

#: Every status a template can have; `deleted` is only reached through deletion.
STATUSES: Final = ("draft", "active", "inactive", "deleted")
DELETED: Final = "deleted"

templates = Table(
    "templates",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    # Validated per-language contents (exactly one fallback) and default delivery options.
    Column("contents", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_at", UtcDateTime(), nullable=True),
    Column("end_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_templates_project_pk", "project_id", "pk"),
)


def new_template_id() -> str:
    """An unguessable template id."""
    return "tpl_" + secrets.token_hex(12)


async def insert_template(
    conn: AsyncConnection, project_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Store a new template made of `fields` (name, contents, options, status, window)."""
    now = utcnow()
    template_id = new_template_id()
    await conn.execute(
        templates.insert().values(
            id=template_id, project_id=project_id, created_at=now, updated_at=now, **fields
        )
    )
    created = await get_template(conn, project_id, template_id, include_deleted=True)
    assert created is not None
    return created


async def get_template(
    conn: AsyncConnection, project_id: str, template_id: str, *, include_deleted: bool = False
) -> dict[str, Any] | None:
    """One template of the project; deleted ones only when asked for."""
    query = select(templates).where(
        templates.c.project_id == project_id, templates.c.id == template_id
    )
    if not include_deleted:
        query = query.where(templates.c.status != DELETED)
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def list_templates(
    conn: AsyncConnection,
    project_id: str,
    after: int | None,
    limit: int,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Templates of a project in creation order; deleted ones only when `status` asks."""
    query = (
        select(templates)
        .where(templates.c.project_id == project_id)
        .order_by(templates.c.pk)
        .limit(limit)
    )
    if status is None:
        query = query.where(templates.c.status != DELETED)
    else:
        query = query.where(templates.c.status == status)
    if after is not None:
        query = query.where(templates.c.pk > key_param(after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def update_template(
    conn: AsyncConnection, pk: int, fields: dict[str, Any], now: datetime | None = None
) -> None:
    """Overwrite the given fields of a template and touch its update time."""
    await conn.execute(
        update(templates).where(templates.c.pk == pk).values(updated_at=now or utcnow(), **fields)
    )
