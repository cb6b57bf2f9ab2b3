"""Push message definitions of the sfmc dialect: the `sfmc_messages` table and its queries."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.metadata import metadata
from clarion.store.types import UtcDateTime, utcnow

sfmc_messages = Table(
    "sfmc_messages",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("app_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("status", Integer, nullable=False),
    # The validated definition exactly as the dialect echoes it back (without its id).
    Column("definition", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_sfmc_messages_project_pk", "project_id", "pk"),
)


def new_message_id() -> str:
    """An unguessable id in the platform's style: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(12)).decode().rstrip("=")


async def insert_message(
    conn: AsyncConnection, message_id: str, project_id: str, definition: dict[str, Any]
) -> None:
    """Store a new definition."""
    now = utcnow()
    await conn.execute(
        sfmc_messages.insert().values(
            id=message_id,
            project_id=project_id,
            app_id=definition["application"]["id"],
            name=definition["name"],
            status=definition["status"],
            definition=definition,
            created_at=now,
            updated_at=now,
        )
    )


async def get_message(
    conn: AsyncConnection, project_id: str, message_id: str
) -> dict[str, Any] | None:
    """One definition of the project, or None."""
    query = select(sfmc_messages).where(
        sfmc_messages.c.project_id == project_id, sfmc_messages.c.id == message_id
    )
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def replace_message(
    conn: AsyncConnection, project_id: str, message_id: str, definition: dict[str, Any]
) -> bool:
    """Replace a definition; False when it does not exist in the project."""
    result = await conn.execute(
        sql_update(sfmc_messages)
        .where(sfmc_messages.c.project_id == project_id, sfmc_messages.c.id == message_id)
        .values(
            app_id=definition["application"]["id"],
            name=definition["name"],
            status=definition["status"],
            definition=definition,
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)


async def delete_message(conn: AsyncConnection, project_id: str, message_id: str) -> bool:
    """Remove a definition; False when it does not exist in the project."""
    result = await conn.execute(
        delete(sfmc_messages).where(
            sfmc_messages.c.project_id == project_id, sfmc_messages.c.id == message_id
        )
    )
    return bool(result.rowcount)
