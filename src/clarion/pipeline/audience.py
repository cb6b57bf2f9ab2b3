"""Broadcast audiences: validation, and the keyset-paged query of the devices they reach."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from datetime import date as Day
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.errors import DomainError, FieldProblem, domain_error_from_validation
from clarion.domain.vocabulary import ErrorCode
from clarion.store import lists as list_store
from clarion.store import segments as segment_store
from clarion.store.lists import list_members
from clarion.store.segments import FilterSources, SegmentFilter, compile_filter, parse_filter
from clarion.store.tables import apps, contacts, installations

ListId = Annotated[str, Field(min_length=1, max_length=40)]
#: How far ahead a send may be scheduled.
MAX_AHEAD = timedelta(days=366)


class Audience(BaseModel):
    """Exactly one of: all, list_id, segment_id, filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: StrictBool | None = None
    list_id: ListId | None = None
    segment_id: ListId | None = None
    filter: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Audience:
        given = [
            name
            for name in ("all", "list_id", "segment_id", "filter")
            if getattr(self, name) not in (None, False)
        ]
        if len(given) != 1:
            raise FieldProblem(
                ErrorCode.MALFORMED_PARAMETER,
                'give exactly one of {"all": true}, list_id, segment_id or filter',
            )
        return self


PastTime = Literal["send_now", "next_day", "skip"]


class Schedule(BaseModel):
    """Either `at` (a UTC instant) or `local_time` + `date` (+ `past_time`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime | None = None
    local_time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = None
    date: Day | None = None
    past_time: PastTime = "send_now"

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise FieldProblem(
                ErrorCode.MALFORMED_PARAMETER, "needs a UTC offset, e.g. 2026-12-01T09:00Z"
            )
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if self.at is not None and (self.local_time is not None or self.date is not None):
            raise FieldProblem(
                ErrorCode.MALFORMED_PARAMETER, "give either at or local_time and date"
            )
        if self.at is None and self.local_time is None:
            raise FieldProblem(ErrorCode.MISSING_PARAMETER, "give at, or local_time and date")
        if self.local_time is not None and self.date is None:
            raise FieldProblem(ErrorCode.MISSING_PARAMETER, "local_time needs a date", "date")
        if self.date is not None and self.local_time is None:
            raise FieldProblem(ErrorCode.MISSING_PARAMETER, "date needs a local_time", "local_time")
        return self

    @property
    def wall_clock(self) -> time:
        """The local time of a local-time send."""
        assert self.local_time is not None
        hours, minutes = self.local_time.split(":")
        return time(int(hours), int(minutes))


class Broadcast(BaseModel):
    """The audience part of a broadcast send, as stored with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audience: Audience
    exclude_lists: Annotated[list[ListId], Field(max_length=20)] = []
    only_last_engaged: bool = False
    schedule: Schedule | None = None


def parse_broadcast(document: dict[str, Any]) -> dict[str, Any]:
    """Validate the audience fields of a send body into their stored JSON form."""
    try:
        audience = Audience.model_validate(document["audience"])
    except ValidationError as exc:
        raise domain_error_from_validation(exc, "audience") from None
    if audience.filter is not None:
        parse_filter(audience.filter, "audience.filter")
    exclude = document.get("exclude_lists") or []
    if not isinstance(exclude, list) or not all(isinstance(i, str) for i in exclude):
        raise DomainError(
            ErrorCode.MALFORMED_PARAMETER, "exclude_lists is a list of list ids", "exclude_lists"
        )
    schedule = _schedule(document.get("schedule"))
    try:
        broadcast = Broadcast(
            audience=audience,
            exclude_lists=list(dict.fromkeys(exclude)),
            only_last_engaged=bool(document.get("only_last_engaged", False)),
            schedule=schedule,
        )
    except ValidationError as exc:
        raise domain_error_from_validation(exc) from None
    return broadcast.model_dump(mode="json", exclude_none=True)


def _schedule(data: Any) -> Schedule | None:
    if data is None:
        return None
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        raise domain_error_from_validation(exc, "schedule") from None


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


async def check_references(conn: AsyncConnection, project_id: str, stored: dict[str, Any]) -> None:
    """404 (with the field) when a list or segment the broadcast names does not exist."""
    try:
        await resolve_audience(conn, project_id, stored)
    except AudienceGone as exc:
        raise DomainError(ErrorCode.NOT_FOUND, str(exc), exc.field) from None


async def resolve_audience(
    conn: AsyncConnection, project_id: str, stored: dict[str, Any]
) -> ResolvedAudience:
    """Load the lists and segment the stored broadcast names; AudienceGone if one is missing."""
    broadcast = Broadcast.model_validate(stored)
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
        segment_filter = parse_filter(audience.filter, "audience.filter")
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


def refuse_broadcast_fields(document: dict[str, Any]) -> None:
    """Audience-only fields on a send without audience are a mistake, not something to ignore."""
    for name in ("exclude_lists", "only_last_engaged"):
        if document.get(name) is not None:
            raise DomainError(ErrorCode.MALFORMED_PARAMETER, f"{name} needs an audience", name)


def parse_send_schedule(data: Any, now: datetime) -> dict[str, Any] | None:
    """The schedule of a send to explicit recipients: one UTC instant, at most a year ahead.

    Local-time schedules need each device's zone before the send is planned, which only
    an audience send resolves page by page; they stay refused here.
    """
    schedule = _schedule(data)
    if schedule is None:
        return None
    if schedule.at is None:
        raise DomainError(
            ErrorCode.MALFORMED_PARAMETER,
            "local_time schedules need an audience; give schedule.at to schedule a send "
            "to recipients",
            "schedule.local_time",
        )
    if schedule.at - now > MAX_AHEAD:
        raise DomainError(
            ErrorCode.MALFORMED_PARAMETER, "a send is scheduled at most a year ahead", "schedule"
        )
    return schedule.model_dump(mode="json", exclude_none=True, exclude={"past_time"})
