"""Which stored provider secrets this process cannot decrypt, checked at start and on demand."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store.secrets import SecretBox, SecretUnreadable
from clarion.store.tables import apps, provider_credentials

log = logging.getLogger(__name__)

#: How often a healthy process looks again (another process may have sealed with another key).
RESCAN_SECONDS = 60.0
#: How often it looks again while something is unreadable, so a fix shows up quickly.
RESCAN_UNHEALTHY_SECONDS = 2.0


@dataclass(frozen=True)
class UnreadableSecret:
    """One app's provider credentials that no configured key opens."""

    app_pk: int
    app_id: str
    project_id: str
    provider: str

    def describe(self) -> str:
        """Short text naming the app and provider, for logs and /readyz."""
        return f"app {self.app_id} ({self.provider})"


def stored_secrets_query() -> Select[Any]:
    """Every stored provider secret with its app's id and project, in a stable order."""
    return (
        select(
            provider_credentials.c.app_pk,
            provider_credentials.c.provider,
            provider_credentials.c.secret_blob,
            apps.c.id,
            apps.c.project_id,
        )
        .join(apps, apps.c.pk == provider_credentials.c.app_pk)
        .order_by(apps.c.id, provider_credentials.c.provider)
    )


async def find_unreadable(engine: AsyncEngine, box: SecretBox) -> list[UnreadableSecret]:
    """Try to open every stored provider secret; return the ones that cannot be opened."""
    found = []
    async with engine.connect() as conn:
        rows = list(await conn.execute(stored_secrets_query()))
    for row in rows:
        try:
            box.open(row.secret_blob)
        except SecretUnreadable:
            found.append(UnreadableSecret(row.app_pk, row.id, row.project_id, row.provider))
    return found


class SecretHealth:
    """What one process knows of the stored secrets it cannot decrypt.

    Filled by a scan at start, by later scans from /readyz, and by the delivery path
    when it meets a secret it cannot open; each new problem is logged once at ERROR.
    """

    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box
        self._unreadable: dict[tuple[int, str], UnreadableSecret] = {}
        self._scanned_at: float | None = None
        self._stale = True

    @property
    def unreadable(self) -> list[UnreadableSecret]:
        """The secrets known to be unreadable, as of the last scan or report."""
        return list(self._unreadable.values())

    async def scan(self) -> list[UnreadableSecret]:
        """Check every stored secret now (raises when the database cannot be read)."""
        found = await find_unreadable(self._engine, self._box)
        current = {(s.app_pk, s.provider): s for s in found}
        for key, secret in current.items():
            if key not in self._unreadable:
                _log_unreadable(secret)
        for key, secret in self._unreadable.items():
            if key not in current:
                log.info("the %s secret of app %s can be decrypted again", *_names(secret))
        self._unreadable = current
        self._scanned_at = time.monotonic()
        self._stale = False
        return found

    async def refresh(self) -> list[UnreadableSecret]:
        """The unreadable secrets, scanning again when the last look is too old."""
        age = RESCAN_UNHEALTHY_SECONDS if self._unreadable else RESCAN_SECONDS
        if self._stale or self._scanned_at is None or time.monotonic() - self._scanned_at > age:
            return await self.scan()
        return self.unreadable

    async def start(self) -> None:
        """The check at process start: problems are logged; a database down now is retried later."""
        try:
            await self.scan()
        except Exception as exc:  # the database may come up after this process
            log.warning("stored provider secrets not checked yet: %r", exc)

    def knows(self, app_pk: int, provider: str) -> bool:
        """Whether this secret is already known to be unreadable."""
        return (app_pk, provider) in self._unreadable

    def report(self, secret: UnreadableSecret) -> None:
        """Record a secret the delivery path could not open."""
        key = (secret.app_pk, secret.provider)
        if key not in self._unreadable:
            _log_unreadable(secret)
            self._unreadable[key] = secret
        self._stale = True

    def opened(self, app_pk: int, provider: str) -> None:
        """Record that the delivery path opened this secret."""
        if self._unreadable.pop((app_pk, provider), None) is not None:
            self._stale = True


def _names(secret: UnreadableSecret) -> tuple[str, str]:
    return secret.provider, secret.app_id


def _log_unreadable(secret: UnreadableSecret) -> None:
    log.error(
        "the %s secret of app %s (project %s) cannot be decrypted with any key of "
        "CLARION_SECRET_KEY: the key was changed or is missing. Put the key it was sealed "
        "with after the current one (comma-separated), or store the credentials again; "
        "until then its deliveries fail",
        secret.provider,
        secret.app_id,
        secret.project_id,
    )
