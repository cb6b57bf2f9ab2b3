"""Inbox items: one stored message per contact per send, listed by the contact's app."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.metadata import metadata
from clarion.store.pagination import key_param
from clarion.store.types import BigId, UtcDateTime

inbox_items = Table(
    "inbox_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("contact_pk", BigId, ForeignKey("contacts.pk", ondelete="CASCADE"), nullable=False),
    Column("send_id", String(40), ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text, nullable=True),
    Column("body", Text, nullable=True),
    Column("deeplink", Text, nullable=True),
    Column("data", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("read_at", UtcDateTime(), nullable=True),
    # A contact reached on several devices still gets one item per send.
    UniqueConstraint("contact_pk", "send_id", name="uq_inbox_items_contact_send"),
    Index("ix_inbox_items_contact", "contact_pk", "id"),
)


async def store_items(conn: AsyncConnection, items: Sequence[dict[str, Any]]) -> None:
    """Insert items; an item already stored for the contact and send is kept as it is."""
    if not items:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(inbox_items).on_conflict_do_nothing(
        index_elements=["contact_pk", "send_id"]
    )
    await conn.execute(statement, list(items))


async def list_items(
    conn: AsyncConnection, contact_pk: int, now: datetime, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Unexpired items of a contact, newest first."""
    query = (
        select(inbox_items)
        .where(
            inbox_items.c.contact_pk == contact_pk,
            (inbox_items.c.expires_at.is_(None)) | (inbox_items.c.expires_at > now),
        )
        .order_by(inbox_items.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(inbox_items.c.id < key_param(before_id))
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def mark_read(conn: AsyncConnection, contact_pk: int, item_id: int, now: datetime) -> bool:
    """Mark an item read (the first reading time is kept); tell whether it exists."""
    await conn.execute(
        update(inbox_items)
        .where(
            inbox_items.c.id == key_param(item_id),
            inbox_items.c.contact_pk == contact_pk,
            inbox_items.c.read_at.is_(None),
        )
        .values(read_at=now)
    )
    found = await conn.execute(
        select(inbox_items.c.id).where(
            inbox_items.c.id == key_param(item_id), inbox_items.c.contact_pk == contact_pk
        )
    )
    return found.first() is not None


async def get_item(conn: AsyncConnection, contact_pk: int, item_id: int) -> dict[str, Any] | None:
    """One item of a contact."""
    query = select(inbox_items).where(
        inbox_items.c.id == key_param(item_id), inbox_items.c.contact_pk == contact_pk
    )
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def delete_item(conn: AsyncConnection, contact_pk: int, item_id: int) -> bool:
    """Delete an item; tell whether it existed."""
    result = await conn.execute(
        delete(inbox_items).where(
            inbox_items.c.id == key_param(item_id), inbox_items.c.contact_pk == contact_pk
        )
    )
    return bool(result.rowcount)
