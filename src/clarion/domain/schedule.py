"""Scheduled and local-time sends: when planning is due and when each time zone gets its copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from datetime import date as Day
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clarion.domain.broadcast import MAX_AHEAD, Schedule
from clarion.domain.errors import DomainError
from clarion.domain.vocabulary import ErrorCode

#: The earliest offset on Earth (Pacific/Kiritimati): no zone reaches a wall-clock time sooner.
EARLIEST_OFFSET = timedelta(hours=14)


def check_schedule(schedule: Schedule, now: datetime, field: str = "schedule") -> None:
    """Refuse schedules more than a year ahead, and local-time skips already over everywhere."""
    if plan_at(schedule) - now > MAX_AHEAD:
        raise DomainError(
            ErrorCode.MALFORMED_PARAMETER, "a send is scheduled at most a year ahead", field
        )
    if schedule.date is not None and schedule.past_time == "skip":
        # The latest zone (UTC-12) reaches the time last; once it has, nobody would get it.
        latest = datetime.combine(schedule.date, schedule.wall_clock, UTC) + timedelta(hours=12)
        if latest < now:
            raise DomainError(
                ErrorCode.MALFORMED_PARAMETER,
                "this local time has passed in every time zone",
                field,
            )


def plan_at(schedule: Schedule) -> datetime:
    """When planning is due: the instant itself, or when the first zone reaches the time."""
    if schedule.at is not None:
        return schedule.at
    assert schedule.date is not None
    return datetime.combine(schedule.date, schedule.wall_clock, UTC) - EARLIEST_OFFSET


def zone_of(name: str | None) -> ZoneInfo:
    """The zone a recipient lives in; unknown or missing zones count as UTC."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Timing:
    """When a device gets its copy: `run_at` (None: now), or skipped."""

    run_at: datetime | None
    skipped: bool = False


class LocalTimes:
    """Per time zone delivery times of one schedule, computed once per zone."""

    def __init__(self, schedule: Schedule | None, now: datetime) -> None:
        self.schedule = schedule
        self.now = now
        self._by_zone: dict[str | None, Timing] = {}

    def timing(self, zone_name: str | None) -> Timing:
        """When a device in this zone gets its copy."""
        schedule = self.schedule
        if schedule is None or schedule.local_time is None:
            return Timing(None)
        cached = self._by_zone.get(zone_name)
        if cached is None:
            cached = self._compute(schedule, zone_of(zone_name))
            self._by_zone[zone_name] = cached
        return cached

    def _compute(self, schedule: Schedule, zone: ZoneInfo) -> Timing:
        assert schedule.date is not None
        due = _instant(schedule.date, schedule.wall_clock, zone)
        if due > self.now:
            return Timing(due)
        if schedule.past_time == "skip":
            return Timing(None, skipped=True)
        if schedule.past_time == "next_day":
            return Timing(_instant(schedule.date + timedelta(days=1), schedule.wall_clock, zone))
        return Timing(None)


def _instant(day: Day, wall: time, zone: ZoneInfo) -> datetime:
    # A wall time skipped by a DST jump resolves forward (fold=0), as clocks do.
    return datetime.combine(day, wall, zone).astimezone(UTC)
