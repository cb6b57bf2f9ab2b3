"""Apps of a project and their provider credentials."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.pagination import key_param
from clarion.store.secrets import SecretBox
from clarion.store.tables import apps, provider_credentials
from clarion.store.types import utcnow


async def create_app(
    conn: AsyncConnection, project_id: str, app_id: str, name: str
) -> dict[str, Any]:
    """Insert an app; its public key is what SDKs use to report events."""
    row = {
        "project_id": project_id,
        "id": app_id,
        "name": name,
        "public_key": "pk_" + secrets.token_hex(16),
        "created_at": utcnow(),
    }
    result = await conn.execute(apps.insert().values(**row))
    return {"pk": result.inserted_primary_key[0], **row} if result.inserted_primary_key else row


async def get_app(conn: AsyncConnection, app_id: str) -> dict[str, Any] | None:
    """Fetch one app by its globally unique id."""
    query = select(apps).where(apps.c.id == app_id)
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def get_app_by_pk(conn: AsyncConnection, app_pk: int) -> dict[str, Any] | None:
    """Fetch one app by its internal key."""
    found = (await conn.execute(select(apps).where(apps.c.pk == app_pk))).mappings().first()
    return dict(found) if found else None


async def list_apps(
    conn: AsyncConnection, project_id: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """List a project's apps in creation order."""
    query = select(apps).where(apps.c.project_id == project_id).order_by(apps.c.pk).limit(limit)
    if after is not None:
        query = query.where(apps.c.pk > key_param(after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_app(conn: AsyncConnection, app_pk: int) -> None:
    """Delete an app with its credentials and installations."""
    await conn.execute(delete(apps).where(apps.c.pk == app_pk))


async def put_credentials(
    conn: AsyncConnection,
    box: SecretBox,
    app_pk: int,
    provider: str,
    public_config: dict[str, Any],
    secret: dict[str, Any],
) -> None:
    """Create or replace the credentials of one provider of an app."""
    await conn.execute(
        delete(provider_credentials).where(
            provider_credentials.c.app_pk == app_pk, provider_credentials.c.provider == provider
        )
    )
    await conn.execute(
        provider_credentials.insert().values(
            app_pk=app_pk,
            provider=provider,
            public_config=public_config,
            secret_blob=box.seal(secret),
            updated_at=utcnow(),
        )
    )


async def get_credentials(
    conn: AsyncConnection, app_pk: int, provider: str
) -> dict[str, Any] | None:
    """Fetch the public half of one provider's credentials with its update time."""
    query = select(provider_credentials).where(
        provider_credentials.c.app_pk == app_pk, provider_credentials.c.provider == provider
    )
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def list_credentials(conn: AsyncConnection, app_pk: int) -> list[dict[str, Any]]:
    """All providers configured for an app (secrets still sealed)."""
    query = select(provider_credentials).where(provider_credentials.c.app_pk == app_pk)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_credentials(conn: AsyncConnection, app_pk: int, provider: str) -> bool:
    """Remove one provider's credentials."""
    result = await conn.execute(
        delete(provider_credentials).where(
            provider_credentials.c.app_pk == app_pk, provider_credentials.c.provider == provider
        )
    )
    return bool(result.rowcount)
