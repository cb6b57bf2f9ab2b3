"""Installations: one app on one device, with its push token or web push subscription."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.pagination import key_param
from clarion.store.tables import contacts, installations
from clarion.store.types import utcnow


def _with_contact() -> Any:
    return select(installations, contacts.c.external_id).select_from(
        installations.outerjoin(contacts, installations.c.contact_pk == contacts.c.pk)
    )


async def get_installation(
    conn: AsyncConnection, app_pk: int, installation_id: str
) -> dict[str, Any] | None:
    """Fetch one installation with its contact's external id."""
    query = _with_contact().where(
        installations.c.app_pk == app_pk, installations.c.installation_id == installation_id
    )
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def upsert_installation(
    conn: AsyncConnection, app_pk: int, installation_id: str, values: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create or replace an installation; a new token clears an earlier invalidation."""
    now = utcnow()
    existing = await get_installation(conn, app_pk, installation_id)
    values = values | {"updated_at": now, "invalidated_at": None, "invalid_reason": None}
    if existing is None:
        await conn.execute(
            installations.insert().values(
                app_pk=app_pk, installation_id=installation_id, created_at=now, **values
            )
        )
    else:
        await conn.execute(
            update(installations).where(installations.c.pk == existing["pk"]).values(**values)
        )
    stored = await get_installation(conn, app_pk, installation_id)
    assert stored is not None
    return stored, existing is None


async def list_installations(
    conn: AsyncConnection,
    app_pk: int,
    after: int | None,
    limit: int,
    contact_pk: int | None = None,
) -> list[dict[str, Any]]:
    """List an app's installations in creation order, optionally of one contact."""
    query = (
        _with_contact()
        .where(installations.c.app_pk == app_pk)
        .order_by(installations.c.pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(installations.c.pk > key_param(after))
    if contact_pk is not None:
        query = query.where(installations.c.contact_pk == contact_pk)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_installation(conn: AsyncConnection, app_pk: int, installation_id: str) -> bool:
    """Delete one installation."""
    result = await conn.execute(
        delete(installations).where(
            installations.c.app_pk == app_pk, installations.c.installation_id == installation_id
        )
    )
    return bool(result.rowcount)
