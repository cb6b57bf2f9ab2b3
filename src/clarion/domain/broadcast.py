"""Broadcasts: who an audience send reaches, and when (the stored, validated form)."""

from __future__ import annotations

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

from clarion.domain.errors import DomainError, FieldProblem, domain_error_from_validation
from clarion.domain.segment_filter import SegmentFilter, parse_filter
from clarion.domain.vocabulary import ErrorCode

ListId = Annotated[str, Field(min_length=1, max_length=40)]
#: How far ahead a send may be scheduled.
MAX_AHEAD = timedelta(days=366)


class Audience(BaseModel):
    """Exactly one of: all, list_id, segment_id, filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: StrictBool | None = None
    list_id: ListId | None = None
    segment_id: ListId | None = None
    filter: SegmentFilter | None = None

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


def parse_broadcast(document: dict[str, Any]) -> Broadcast:
    """Validate the audience fields of a send body."""
    raw = document["audience"]
    if isinstance(raw, dict) and raw.get("filter") is not None:
        # The filter's own reader names what is wrong with it (a non-object included).
        parse_filter(raw["filter"], "audience.filter")
    try:
        audience = Audience.model_validate(raw)
    except ValidationError as exc:
        raise domain_error_from_validation(exc, "audience") from None
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
    return broadcast


def _schedule(data: Any) -> Schedule | None:
    if data is None:
        return None
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        raise domain_error_from_validation(exc, "schedule") from None


def refuse_broadcast_fields(document: dict[str, Any]) -> None:
    """Audience-only fields on a send without audience are a mistake, not something to ignore."""
    for name in ("exclude_lists", "only_last_engaged"):
        if document.get(name) is not None:
            raise DomainError(ErrorCode.MALFORMED_PARAMETER, f"{name} needs an audience", name)


def parse_send_schedule(data: Any, now: datetime) -> Schedule | None:
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
    return schedule
