"""One page of a broadcast plan written in one blocking transaction: claim, rows and jobs.

Blocking, so that on SQLite the whole page runs in a thread of its own at the
database's pace, instead of one event-loop round trip per statement while the loop is
busy delivering (each round trip would keep SQLite's single write lock held). On
PostgreSQL the same function runs through the async connection (`run_sync`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from clarion.delivery.jobs import DELIVER
from clarion.domain.schedule import LocalTimes, Timing
from clarion.domain.vocabulary import PLANNABLE_STATUSES, DeliveryOutcome
from clarion.store.audience import (
    PageRows,
    PageScope,
    insert_page,
    missing_list,
    next_page,
    page_zones,
)
from clarion.store.plan_pages import add_targeted, batch_payloads, claim_page, last_delivery_id
from clarion.store.sends import PENDING

#: Builds the statement inserting one job of `kind` for `send_id` per payload row.
JobsInsert = Callable[[str, str, Select[Any], datetime | None], Insert]


class Written(Enum):
    """What writing a page came to."""

    #: The page's deliveries and jobs exist and the cursor moved past it.
    PLANNED = "planned"
    #: No device is left after the cursor; nothing was written.
    END = "end"
    #: Another run moved the cursor, or the send may no longer be planned.
    LOST = "lost"
    #: A list the audience names was deleted: the send ends with `error`.
    GONE = "gone"


@dataclass(frozen=True)
class PagePlan:
    """Which page to write: the send, the cursor read with it, the audience, the sizes."""

    send_id: str
    cursor: int
    scope: PageScope
    page_size: int
    batch_size: int


@dataclass(frozen=True)
class PageWritten:
    """The outcome of a page: how many deliver jobs it made and where the cursor is now."""

    state: Written
    jobs: int = 0
    last_pk: int = 0
    error: str | None = None


def write_page(conn: Connection, plan: PagePlan, insert_jobs: JobsInsert) -> PageWritten:
    """Plan the devices after the cursor, up to a page: delivery rows, their jobs, the cursor.

    Runs inside the caller's transaction; the cursor only moves from where `plan` read
    it, so a page is never planned twice, and it commits with the rows it covers.
    """
    scope, send_id = plan.scope, plan.send_id
    gone = missing_list(conn, scope.resolved)
    if gone is not None:
        return PageWritten(Written.GONE, error=f"{gone.field}: {gone}")
    page = next_page(conn, scope, plan.cursor, plan.page_size)
    if page is None:
        return PageWritten(Written.END)
    if not claim_page(conn, send_id, PLANNABLE_STATUSES, plan.cursor, page.last_pk, page.count):
        return PageWritten(Written.LOST)
    made = jobs = 0
    for rows, run_at in _page_groups(conn, scope, send_id, plan.cursor, page.last_pk):
        before = last_delivery_id(conn)
        inserted = insert_page(conn, scope, rows)
        made += inserted
        if inserted and rows.outcome == PENDING:
            payloads = batch_payloads(conn.dialect.name, send_id, before, plan.batch_size)
            jobs += conn.execute(insert_jobs(DELIVER, send_id, payloads, run_at)).rowcount
    if made != page.count:
        # A device registered or changed between the two reads of this page (PostgreSQL
        # reads each statement afresh): the count follows the rows actually made.
        add_targeted(conn, send_id, made - page.count)
    return PageWritten(Written.PLANNED, jobs, page.last_pk)


def _page_groups(
    conn: Connection, scope: PageScope, send_id: str, cursor: int, last_pk: int
) -> list[tuple[PageRows, datetime | None]]:
    """The inserts a page takes: one, or one per delivery time of a local-time send."""
    schedule = scope.resolved.broadcast.schedule
    if schedule is None or schedule.local_time is None:
        return [(PageRows(send_id, cursor, last_pk, PENDING), None)]
    times = LocalTimes(schedule, scope.now)
    zones_at: dict[Timing, list[str | None]] = {}
    for zone in page_zones(conn, scope, cursor, last_pk):
        zones_at.setdefault(times.timing(zone), []).append(zone)
    groups = []
    for timing, zones in zones_at.items():
        if timing.skipped:
            rows = PageRows(
                send_id,
                cursor,
                last_pk,
                DeliveryOutcome.SKIPPED,
                zones,
                "LocalTimePassed",
                scope.now,
            )
        else:
            rows = PageRows(send_id, cursor, last_pk, PENDING, zones)
        groups.append((rows, timing.run_at))
    return groups
