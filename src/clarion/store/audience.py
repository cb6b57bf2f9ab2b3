"""The devices a broadcast audience reaches: its lists and segment resolved, then keyset paged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.broadcast import Broadcast
from clarion.domain.errors import DomainError
from clarion.domain.segment_filter import SegmentFilter, parse_filter
from clarion.domain.vocabulary import ErrorCode
from clarion.store import lists as list_store
from clarion.store import segments as segment_store
from clarion.store.lists import list_members
from clarion.store.segments import FilterSources, compile_filter
from clarion.store.tables import apps, contacts, installations


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


@dataclass(frozen=True)
class AudienceDevice:
    """One device of a page of the audience."""

    pk: int
    app_id: str
    installation_id: str
    platform: str
    token: str | None
    timezone: str | None
    external_id: str | None


def page_query(
    project_id: str,
    resolved: ResolvedAudience,
    app_ids: Sequence[str] | None,
    after_pk: int,
    limit: int,
    dialect: str,
    now: datetime,
) -> Select[Any]:
    """The next `limit` devices after `after_pk`, in installation pk order."""
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
        select(
            device.c.pk,
            device_app.c.id.label("app_id"),
            device.c.installation_id,
            device.c.platform,
            device.c.token,
            func.coalesce(device.c.timezone, person.c.timezone).label("timezone"),
            person.c.external_id,
        )
        .select_from(
            device.join(device_app, device.c.app_pk == device_app.c.pk).outerjoin(
                person, device.c.contact_pk == person.c.pk
            )
        )
        .where(device.c.pk > after_pk, *reachable(device, device_app))
        .order_by(device.c.pk)
        .limit(limit)
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
    return query


async def audience_page(
    conn: AsyncConnection,
    project_id: str,
    resolved: ResolvedAudience,
    app_ids: Sequence[str] | None,
    after_pk: int,
    limit: int,
    now: datetime,
) -> list[AudienceDevice]:
    """Fetch the next page of the audience."""
    query = page_query(project_id, resolved, app_ids, after_pk, limit, conn.dialect.name, now)
    return [
        AudienceDevice(
            int(row.pk),
            row.app_id,
            row.installation_id,
            row.platform,
            row.token,
            row.timezone,
            row.external_id,
        )
        for row in await conn.execute(query)
    ]
