"""API keys: creation (shown once), hashed storage and verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.tables import api_keys
from clarion.store.types import utcnow

SCOPES = ("admin", "registry", "send", "read")
KEY_PREFIX = "clk"


@dataclass(frozen=True)
class StoredKey:
    """What the server knows of a key once verified."""

    id: str
    project_id: str
    scopes: frozenset[str]
    app_ids: frozenset[str] | None


def _hash(secret: str) -> str:
    # Keys carry 256 random bits, so a fast hash resists guessing; no salt or KDF needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """Split a presented key into its id and secret parts, or None when malformed."""
    parts = presented.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create_key(
    conn: AsyncConnection,
    project_id: str,
    scopes: list[str],
    app_ids: list[str] | None = None,
    name: str = "",
) -> tuple[StoredKey, str]:
    """Create a key and return it with its plaintext, which is never stored."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    await conn.execute(
        api_keys.insert().values(
            id=key_id,
            project_id=project_id,
            name=name,
            secret_hash=_hash(secret),
            scopes=sorted(set(scopes)),
            app_ids=sorted(set(app_ids)) if app_ids else None,
            created_at=utcnow(),
        )
    )
    stored = StoredKey(
        key_id, project_id, frozenset(scopes), frozenset(app_ids) if app_ids else None
    )
    return stored, f"{KEY_PREFIX}_{key_id}_{secret}"


#: How long a verified key is trusted without reading its row again: a key revoked by
#: another process stops working within this time; one revoked by this process, at once.
KEY_CACHE_SECONDS = 2.0
#: Most verified keys remembered; the oldest go first.
KEY_CACHE_SIZE = 10_000
# Keyed by the hash of the whole presented key, so no plaintext is kept.
_verified: OrderedDict[str, tuple[float, StoredKey]] = OrderedDict()


def cached_key(presented: str) -> StoredKey | None:
    """The key verified for this plaintext in the last KEY_CACHE_SECONDS, if any."""
    found = _verified.get(_hash(presented))
    if found is None or found[0] < time.monotonic():
        return None
    return found[1]


def remember_key(presented: str, stored: StoredKey) -> None:
    """Trust a just-verified key for KEY_CACHE_SECONDS."""
    digest = _hash(presented)
    _verified[digest] = (time.monotonic() + KEY_CACHE_SECONDS, stored)
    _verified.move_to_end(digest)
    while len(_verified) > KEY_CACHE_SIZE:
        _verified.popitem(last=False)


def forget_keys() -> None:
    """Stop trusting every remembered key (after a revocation or a project's deletion)."""
    _verified.clear()


async def verify_key(conn: AsyncConnection, presented: str) -> StoredKey | None:
    """Return the key matching a presented plaintext, or None."""
    parts = split_key(presented)
    if parts is None:
        return None
    key_id, secret = parts
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().first()
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    app_ids = row["app_ids"]
    return StoredKey(
        row["id"],
        row["project_id"],
        frozenset(row["scopes"]),
        frozenset(app_ids) if app_ids else None,
    )


async def revoke_key(conn: AsyncConnection, project_id: str, key_id: str) -> bool:
    """Revoke a key of a project; tell whether it existed."""
    forget_keys()
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.project_id == project_id)
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)


async def list_keys(conn: AsyncConnection, project_id: str) -> list[dict[str, object]]:
    """List a project's keys without their secrets."""
    rows = await conn.execute(
        select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.scopes,
            api_keys.c.app_ids,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        )
        .where(api_keys.c.project_id == project_id)
        .order_by(api_keys.c.created_at)
    )
    return [dict(row) for row in rows.mappings()]
