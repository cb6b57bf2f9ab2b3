"""The `jobs` table: durable units of work with leases."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, Text, text

from clarion.store.metadata import metadata
from clarion.store.types import UtcDateTime

# Job states. `leased` means a worker holds the job until `lease_expires_at`.
QUEUED = "queued"
LEASED = "leased"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, LEASED, DONE, FAILED, CANCELLED)
#: The rows a claim may take, spelled with literals: SQLite uses a partial index only
#: for a query whose WHERE contains the index's own condition, not bound parameters.
CLAIMABLE = text(f"jobs.status IN ('{QUEUED}', '{LEASED}')")

# A 64-bit integer key rather than a UUID: it is a compact, ordered index key, and
# on SQLite the INTEGER variant makes it the rowid itself (no second b-tree).
JobId = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", JobId, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("send_id", String(64), nullable=True, index=True),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    # When the job next needs attention: due time while queued, lease expiry while
    # leased. One column for both lets a single index find every claimable job,
    # including those of a worker that died holding them.
    Column("run_at", UtcDateTime(), nullable=False),
    # Incremented by every claim; with lease_owner it fences out stale workers.
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Jobs by age, for the purge (mostly finished among the oldest).
    Index("ix_jobs_updated_at", "updated_at"),
    # In the claim's own order, over claimable rows only: a claim reads about `limit`
    # entries instead of sorting the whole backlog.
    Index(
        "ix_jobs_claim",
        text("priority DESC"),
        "run_at",
        "id",
        sqlite_where=text(f"status IN ('{QUEUED}', '{LEASED}')"),
        postgresql_where=text(f"status IN ('{QUEUED}', '{LEASED}')"),
    ),
)
