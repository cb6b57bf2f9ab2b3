"""Telling an unreachable database (answer "try later") from a bug (answer "server error")."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


def database_unreachable(exc: BaseException) -> bool:
    """True when the failure means the database cannot be reached right now."""
    if isinstance(exc, OSError | PoolTimeoutError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
