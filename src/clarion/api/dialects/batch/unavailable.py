"""Telling an unreachable database (answer "try later") from a bug (answer "server error")."""

from __future__ import annotations

# One mapping for the native API and every dialect.
from clarion.store.outage import database_unreachable

__all__ = ["database_unreachable"]
