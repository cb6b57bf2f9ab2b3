"""Contacts: the people behind installations, keyed by the customer's external id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.pagination import key_param
from clarion.store.tables import contacts
from clarion.store.types import utcnow

CONTACT_FIELDS = ("email", "phone", "language", "timezone", "attributes")


async def get_contact(
    conn: AsyncConnection, project_id: str, external_id: str
) -> dict[str, Any] | None:
    """Fetch one contact by external id."""
    query = select(contacts).where(
        contacts.c.project_id == project_id, contacts.c.external_id == external_id
    )
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def upsert_contact(
    conn: AsyncConnection, project_id: str, external_id: str, fields: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create or update a contact with the given fields; tell whether it was created."""
    now = utcnow()
    existing = await get_contact(conn, project_id, external_id)
    if existing is None:
        values: dict[str, Any] = {field: None for field in CONTACT_FIELDS} | {"attributes": {}}
        values |= fields
        result = await conn.execute(
            contacts.insert().values(
                project_id=project_id,
                external_id=external_id,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
        del result
        created = await get_contact(conn, project_id, external_id)
        assert created is not None
        return created, True
    if fields:
        await conn.execute(
            update(contacts).where(contacts.c.pk == existing["pk"]).values(updated_at=now, **fields)
        )
    updated = await get_contact(conn, project_id, external_id)
    assert updated is not None
    return updated, False


async def ensure_contact(conn: AsyncConnection, project_id: str, external_id: str) -> int:
    """Return the pk of a contact, creating an empty one when it does not exist yet."""
    contact, _ = await upsert_contact(conn, project_id, external_id, {})
    return int(contact["pk"])


async def list_contacts(
    conn: AsyncConnection, project_id: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """List contacts of a project in creation order."""
    query = (
        select(contacts)
        .where(contacts.c.project_id == project_id)
        .order_by(contacts.c.pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(contacts.c.pk > key_param(after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_contact(conn: AsyncConnection, project_id: str, external_id: str) -> bool:
    """Delete a contact; its installations stay but lose the link."""
    result = await conn.execute(
        delete(contacts).where(
            contacts.c.project_id == project_id, contacts.c.external_id == external_id
        )
    )
    return bool(result.rowcount)
