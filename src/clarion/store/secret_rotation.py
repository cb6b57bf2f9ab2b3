"""Re-sealing every stored provider secret under the first key of CLARION_SECRET_KEY."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store.secret_check import UnreadableSecret, stored_secrets_query
from clarion.store.secrets import SecretBox, SecretUnreadable
from clarion.store.tables import provider_credentials


@dataclass
class RotationCounts:
    """What a rotation did: secrets re-sealed, already current, and left unreadable."""

    resealed: int = 0
    current: int = 0
    unreadable: list[UnreadableSecret] = field(default_factory=list)


async def rotate_secrets(engine: AsyncEngine, box: SecretBox) -> RotationCounts:
    """Re-seal under the first key what another key sealed; a second run changes nothing."""
    counts = RotationCounts()
    async with engine.connect() as conn:
        rows = list(await conn.execute(stored_secrets_query()))
    for row in rows:
        if box.is_current(row.secret_blob):
            counts.current += 1
            continue
        try:
            sealed = box.reseal(row.secret_blob)
        except SecretUnreadable:
            counts.unreadable.append(
                UnreadableSecret(row.app_pk, row.id, row.project_id, row.provider)
            )
            continue
        # Only if unchanged since read: credentials stored meanwhile are already current.
        async with engine.begin() as conn:
            await conn.execute(
                update(provider_credentials)
                .where(
                    provider_credentials.c.app_pk == row.app_pk,
                    provider_credentials.c.provider == row.provider,
                    provider_credentials.c.secret_blob == row.secret_blob,
                )
                .values(secret_blob=sealed)
            )
        counts.resealed += 1
    return counts
