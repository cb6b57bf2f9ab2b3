"""Database outages as the API answers them: "come back later" with Retry-After, not a 500."""

from __future__ import annotations

from clarion.store.outage import RETRY_AFTER_SECONDS, database_unreachable


def outage_retry_after(exc: BaseException) -> int | None:
    """Seconds the client should wait when `exc` means the database cannot serve now, else None."""
    return RETRY_AFTER_SECONDS if database_unreachable(exc) else None
