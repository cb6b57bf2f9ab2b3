"""The devices a broadcast audience reaches: its lists and segment resolved, then keyset paged.

The page functions block (a plain `Connection`): a page is written in one transaction that
on SQLite runs in a thread of its own, away from the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.broadcast import Broadcast
from clarion.domain.errors import DomainError
from clarion.domain.segment_filter import SegmentFilter, parse_filter
from clarion.domain.vocabulary import ErrorCode
from clarion.store import lists as list_store
from clarion.store import segments as segment_store
from clarion.store.deliveries import PLANNED_COLUMNS
from clarion.store.lists import list_members
from clarion.store.segments import FilterSources, compile_filter
from clarion.store.send_tables import deliveries
from clarion.store.tables import apps, contacts, installations
from clarion.store.types import UtcDateTime


class AudienceGone(Exception):
    """A list or segment the broadcast names does not exist (any more); `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ResolvedAudience:
    """A broadcast's audience with its list and segment ids turned into what the query needs."""

    broadcast: Broadcast
    list_pk: int | None
    exclude_pks: tuple[int, ...]
    segment_filter: SegmentFilter | None


async def check_references(conn: AsyncConnection, project_id: str, broadcast: Broadcast) -> None:
    """404 (with the field) when a list or segment the broadcast names does not exist."""
    try:
        await resolve_audience(conn, project_id, broadcast)
    except AudienceGone as exc:
        raise DomainError(ErrorCode.NOT_FOUND, str(exc), exc.field) from None


async def resolve_audience(
    conn: AsyncConnection, project_id: str, broadcast: Broadcast
) -> ResolvedAudience:
    """Load the lists and segment the broadcast names; AudienceGone if one is missing."""
    audience = broadcast.audience
    named = [audience.list_id] if audience.list_id else []
    pks = await list_store.list_pks(conn, project_id, [*named, *broadcast.exclude_lists])
    if audience.list_id and audience.list_id not in pks:
        raise AudienceGone("list not found", "audience.list_id")
    for index, list_id in enumerate(broadcast.exclude_lists):
        if list_id not in pks:
            raise AudienceGone("list not found", f"exclude_lists[{index}]")
    segment_filter = None
    if audience.segment_id is not None:
        segment = await segment_store.get_segment(conn, project_id, audience.segment_id)
        if segment is None:
            raise AudienceGone("segment not found", "audience.segment_id")
        segment_filter = parse_filter(segment["filter"])
    elif audience.filter is not None:
        segment_filter = audience.filter
    return ResolvedAudience(
        broadcast,
        pks[audience.list_id] if audience.list_id else None,
        tuple(pks[i] for i in broadcast.exclude_lists),
        segment_filter,
    )


def missing_list(conn: Connection, resolved: ResolvedAudience) -> AudienceGone | None:
    """The first list the audience was resolved with that no longer exists, if any.

    A broadcast planned over many transactions reads its lists once; each page checks
    they still exist, so a list deleted half-way ends the send as it would have at the
    start (an exclusion list gone must not let its contacts in).
    """
    named = [resolved.list_pk] if resolved.list_pk is not None else []
    named += resolved.exclude_pks
    if not named:
        return None
    present = set(
        conn.execute(
            select(list_store.lists.c.pk).where(list_store.lists.c.pk.in_(named))
        ).scalars()
    )
    if resolved.list_pk is not None and resolved.list_pk not in present:
        return AudienceGone("list not found", "audience.list_id")
    for index, pk in enumerate(resolved.exclude_pks):
        if pk not in present:
            return AudienceGone("list not found", f"exclude_lists[{index}]")
    return None


@dataclass(frozen=True)
class _Sources:
    """The aliased tables an audience query reads a device from."""

    device: Any
    app: Any
    person: Any


def _audience_query(
    project_id: str,
    resolved: ResolvedAudience,
    app_ids: Sequence[str] | None,
    dialect: str,
    now: datetime,
) -> tuple[Select[Any], _Sources]:
    """Every reachable device of the audience (no columns chosen yet, no order, no paging)."""
    device = installations.alias("device")
    device_app = apps.alias("device_app")
    person = contacts.alias("person")

    def reachable(inst: Any, app: Any) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [
            app.c.project_id == project_id,
            inst.c.invalidated_at.is_(None),
        ]
        if app_ids is not None:
            clauses.append(app.c.id.in_(list(app_ids)))
        if resolved.segment_filter is not None:
            clauses.append(
                compile_filter(
                    resolved.segment_filter, FilterSources(inst, app, person), dialect, now
                )
            )
        return clauses

    query = (
        select(device.c.pk)
        .select_from(
            device.join(device_app, device.c.app_pk == device_app.c.pk).outerjoin(
                person, device.c.contact_pk == person.c.pk
            )
        )
        .where(*reachable(device, device_app))
    )
    if resolved.list_pk is not None:
        query = query.where(
            device.c.contact_pk.in_(
                select(list_members.c.contact_pk).where(list_members.c.list_pk == resolved.list_pk)
            )
        )
    if resolved.exclude_pks:
        query = query.where(
            not_(
                exists().where(
                    list_members.c.list_pk.in_(resolved.exclude_pks),
                    list_members.c.contact_pk == device.c.contact_pk,
                )
            )
        )
    if resolved.broadcast.only_last_engaged:
        # A contact's device is kept only if no other reachable device of that contact is
        # more recent (engaged, else updated; ties go to the newest registration).
        other = installations.alias("other_device")
        other_app = apps.alias("other_app")
        mine = func.coalesce(device.c.last_engaged_at, device.c.updated_at)
        theirs = func.coalesce(other.c.last_engaged_at, other.c.updated_at)
        newer = (
            select(other.c.pk)
            .select_from(other.join(other_app, other.c.app_pk == other_app.c.pk))
            .where(
                other.c.contact_pk == device.c.contact_pk,
                *reachable(other, other_app),
                or_(theirs > mine, and_(theirs == mine, other.c.pk > device.c.pk)),
            )
        )
        query = query.where(not_(exists(newer)))
    return query, _Sources(device, device_app, person)


@dataclass(frozen=True)
class Page:
    """The next page of an audience: how many devices and the pk of the last one."""

    count: int
    last_pk: int


@dataclass(frozen=True)
class PageScope:
    """What an audience page is read with: the send's project, apps and the planning instant."""

    project_id: str
    resolved: ResolvedAudience
    app_ids: Sequence[str] | None
    now: datetime


def next_page(conn: Connection, scope: PageScope, after_pk: int, limit: int) -> Page | None:
    """Bounds of the next `limit` devices after `after_pk` (pk order); None past the end."""
    query, src = _audience_query(
        scope.project_id, scope.resolved, scope.app_ids, conn.dialect.name, scope.now
    )
    pks = query.where(src.device.c.pk > after_pk).order_by(src.device.c.pk).limit(limit).subquery()
    row = conn.execute(select(func.count(), func.max(pks.c.pk))).one()
    if not row[0]:
        return None
    return Page(int(row[0]), int(row[1]))


def _timezone(src: _Sources) -> ColumnElement[Any]:
    return func.coalesce(src.device.c.timezone, src.person.c.timezone)


def page_zones(conn: Connection, scope: PageScope, after_pk: int, last_pk: int) -> list[str | None]:
    """The distinct time zones (device's, else its contact's) of the devices of a page."""
    query, src = _audience_query(
        scope.project_id, scope.resolved, scope.app_ids, conn.dialect.name, scope.now
    )
    zone = _timezone(src)
    query = query.with_only_columns(zone).where(
        src.device.c.pk > after_pk, src.device.c.pk <= last_pk
    )
    return [row[0] for row in conn.execute(query.distinct())]


@dataclass(frozen=True)
class PageRows:
    """Which delivery rows a page insert makes: the send, the pk range, zones and outcome."""

    send_id: str
    after_pk: int
    last_pk: int
    outcome: str
    zones: Sequence[str | None] | None = None
    reason: str | None = None
    completed_at: datetime | None = None


def insert_page(conn: Connection, scope: PageScope, page_rows: PageRows) -> int:
    """Make the delivery rows of a page's devices in one statement; return how many.

    Neither the devices nor the new rows travel through Python: the audience query feeds
    the insert, and nothing is returned row by row. With `zones` given, only devices in
    those zones (None: no zone) are taken.
    """
    query, src = _audience_query(
        scope.project_id, scope.resolved, scope.app_ids, conn.dialect.name, scope.now
    )
    device, person = src.device, src.person
    named = func.coalesce(person.c.external_id, "") != ""
    columns = [
        literal(page_rows.send_id).label("send_id"),
        device.c.pk,
        src.app.c.id,
        device.c.installation_id,
        device.c.platform,
        case((named, "external_id"), else_="installation_id"),
        case((named, person.c.external_id), else_=device.c.installation_id),
        device.c.token,
        literal(page_rows.outcome),
        literal(page_rows.reason, String),
        literal(0),
        literal(scope.now, UtcDateTime),
        literal(page_rows.completed_at, UtcDateTime),
    ]
    query = query.with_only_columns(*columns).where(
        device.c.pk > page_rows.after_pk, device.c.pk <= page_rows.last_pk
    )
    if page_rows.zones is not None:
        zone = _timezone(src)
        known = [z for z in page_rows.zones if z is not None]
        either = [zone.in_(known)] if known else []
        if None in page_rows.zones:
            either.append(zone.is_(None))
        query = query.where(or_(*either))
    result = conn.execute(insert(deliveries).from_select(list(PLANNED_COLUMNS), query))
    return int(result.rowcount)


async def count_audience(
    conn: AsyncConnection,
    project_id: str,
    resolved: ResolvedAudience,
    app_ids: Sequence[str] | None,
    now: datetime,
) -> int:
    """How many devices the audience reaches now: what planning it would target."""
    query, src = _audience_query(project_id, resolved, app_ids, conn.dialect.name, now)
    counted = query.with_only_columns(src.device.c.pk).subquery()
    return int((await conn.execute(select(func.count()).select_from(counted))).scalar_one())
