"""SQL statements of the job queue, shared by SQLite and PostgreSQL where the dialects agree."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, delete, func, select, text, union_all, update
from sqlalchemy.sql.dml import Delete, ReturningUpdate, Update
from sqlalchemy.sql.selectable import Select

from clarion.queue.models import Settlement
from clarion.store.job_tables import CANCELLED, CLAIMABLE, DONE, FAILED, LEASED, QUEUED, jobs


def claim_statement(
    owner: str,
    limit: int,
    now: datetime,
    lease_expires_at: datetime,
    kinds: Sequence[str] | None,
    *,
    skip_locked: bool,
    single_kinds: Sequence[str] = (),
) -> ReturningUpdate[Any]:
    """Lease up to `limit` due jobs (queued and due, or leased with an expired lease).

    Of `single_kinds` (jobs that each keep a process busy a while) among them, one at
    most: the others stay queued for whichever worker claims next, idle ones first. The
    claim still reads only the first `limit` due jobs, however long the queue.
    """
    due = (
        select(jobs.c.id, jobs.c.kind)
        .where(CLAIMABLE, jobs.c.run_at <= now)
        .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
        .limit(limit)
    )
    if kinds is not None:
        due = due.where(jobs.c.kind.in_(list(kinds)))
    if skip_locked:
        # Rows another claimer is leasing right now are skipped, not waited for.
        due = due.with_for_update(skip_locked=True)
    picked = due.cte("picked")
    single = [kind for kind in single_kinds if kinds is None or kind in kinds]
    picked_ids: Any = select(picked.c.id)
    if single:
        picked_ids = union_all(
            select(picked.c.id).where(picked.c.kind.not_in(single)),
            select(func.min(picked.c.id)).where(picked.c.kind.in_(single)),
        )
    statement = update(jobs).add_cte(picked)
    return (
        statement.where(jobs.c.id.in_(picked_ids))
        .values(
            status=LEASED,
            lease_owner=owner,
            lease_expires_at=lease_expires_at,
            run_at=lease_expires_at,
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(*jobs.c)
    )


# Rows per settle statement: bounds the size of one JSON document and one statement.
SETTLE_CHUNK = 2000

# The settlements travel as ONE JSON parameter, so the statement text never changes
# and is compiled once; a VALUES list with a bound parameter per cell cost more to
# compile (about 0.3 s per 1,000 rows) than the database took to run it.
_SETTLE_SET = """
    status = s.status,
    run_at = s.run_at,
    last_error = COALESCE(s.error, jobs.last_error),
    attempts = jobs.attempts - s.refund,
    lease_owner = CASE WHEN s.status = 'queued' THEN NULL ELSE jobs.lease_owner END,
    lease_expires_at = CASE WHEN s.status = 'queued' THEN NULL ELSE jobs.lease_expires_at END,
    updated_at = :now
"""
# Fenced: only the holder of this very claim may settle. A send cancelled while
# this job was in flight still records that the job went out.
_SETTLE_WHERE = """
    jobs.id = s.id AND jobs.lease_owner = s.owner AND jobs.attempts = s.attempts
    AND (jobs.status = 'leased' OR (jobs.status = 'cancelled' AND s.status = 'done'))
"""

_SETTLE_POSTGRESQL = text(
    "UPDATE jobs SET" + _SETTLE_SET + "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s("
    "id bigint, owner text, attempts integer, status text, run_at timestamptz, error text,"
    " refund integer) WHERE" + _SETTLE_WHERE + "RETURNING jobs.id"
)

# MATERIALIZED makes SQLite walk the settlements and look jobs up by id; without
# it the planner scanned every leased job and re-read the JSON for each.
_SETTLE_SQLITE = text(
    "WITH s AS MATERIALIZED (SELECT json_extract(value, '$.id') AS id,"
    " json_extract(value, '$.owner') AS owner,"
    " json_extract(value, '$.attempts') AS attempts,"
    " json_extract(value, '$.status') AS status,"
    " json_extract(value, '$.run_at') AS run_at,"
    " json_extract(value, '$.error') AS error,"
    " json_extract(value, '$.refund') AS refund FROM json_each(:rows))"
    " UPDATE jobs SET" + _SETTLE_SET + "FROM s WHERE" + _SETTLE_WHERE + "RETURNING jobs.id"
)


def settle_statement(
    dialect: str, rows: Sequence[Settlement], now: datetime
) -> tuple[TextClause, dict[str, Any]]:
    """Many settlements as one statement returning the ids whose lease was still held."""
    sqlite = dialect == "sqlite"
    document = [
        {
            "id": r.job_id,
            "owner": r.owner,
            "attempts": r.attempts,
            "status": r.status,
            # Never NULL: done and failed jobs simply note when they settled.
            "run_at": _timestamp(r.run_at or now, sqlite),
            "error": r.error,
            "refund": r.refund,
        }
        for r in rows
    ]
    statement = _SETTLE_SQLITE if sqlite else _SETTLE_POSTGRESQL
    now_value: Any = _timestamp(now, sqlite) if sqlite else now
    return statement, {"rows": json.dumps(document), "now": now_value}


def _timestamp(value: datetime, sqlite: bool) -> str:
    utc = value.astimezone(UTC)
    # On SQLite, the exact text UtcDateTime stores, so that comparisons stay correct.
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else utc.isoformat()


def extend_statement(
    owner: str, ids: Iterable[int], now: datetime, lease_expires_at: datetime
) -> ReturningUpdate[Any]:
    """Push back the lease expiry of jobs this owner still holds."""
    return (
        update(jobs)
        .where(jobs.c.id.in_(list(ids)), jobs.c.lease_owner == owner, jobs.c.status == LEASED)
        .values(lease_expires_at=lease_expires_at, run_at=lease_expires_at, updated_at=now)
        .returning(jobs.c.id)
    )


def cancel_statement(send_id: str, now: datetime) -> Update:
    """Cancel a send's jobs that are waiting or in flight."""
    return (
        update(jobs)
        .where(jobs.c.send_id == send_id, jobs.c.status.in_((QUEUED, LEASED)))
        .values(status=CANCELLED, updated_at=now)
    )


def counts_statement(send_id: str | None) -> Select[str, int]:
    """Number of jobs per status, of one send or of the whole queue."""
    query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    return query if send_id is None else query.where(jobs.c.send_id == send_id)


def purge_statement(finished_before: datetime, limit: int) -> Delete:
    """Delete finished jobs last changed before a time, at most `limit` of them."""
    oldest = (
        select(jobs.c.id)
        .where(
            jobs.c.status.in_((DONE, FAILED, CANCELLED)),
            jobs.c.updated_at < finished_before,
        )
        .limit(limit)
    )
    return delete(jobs).where(jobs.c.id.in_(oldest))
