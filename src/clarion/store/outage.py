"""Telling a database that cannot serve right now ("try later") from a bug ("server error")."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

#: Seconds a client is told to wait before trying again during an outage.
RETRY_AFTER_SECONDS = 5

# SQLite primary result codes of a database that is busy, full, read-only or unreadable.
_SQLITE_OUTAGE = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}

# PostgreSQL SQLSTATE prefixes: connection lost, out of resources (disk full, too many
# connections), shutdown or restart, I/O error, lock wait timeout, read-only standby.
_PG_OUTAGE_PREFIXES = ("08", "53", "57P", "58", "55P03", "25006")


def database_unreachable(exc: BaseException) -> bool:
    """True when the failure means the database cannot serve this request right now."""
    if isinstance(exc, OSError | PoolTimeoutError | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    original = exc.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_OUTAGE
    if isinstance(original, OSError):
        return True
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_PG_OUTAGE_PREFIXES)
