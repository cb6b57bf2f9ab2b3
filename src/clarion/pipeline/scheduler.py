"""Scheduled and local-time sends: when planning is due and when each time zone gets its copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from datetime import date as Day
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.domain.errors import DomainError
from clarion.domain.vocabulary import ErrorCode, SendStatus
from clarion.pipeline.accept import AcceptedSend, IdempotencyConflict
from clarion.pipeline.audience import MAX_AHEAD, Schedule, check_references
from clarion.pipeline.commands import SendCommand
from clarion.pipeline.jobs import plan_job
from clarion.queue.models import NewJob
from clarion.queue.sql import SqlJobQueue
from clarion.store import sends as send_store
from clarion.store.send_tables import sends
from clarion.store.types import utcnow

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


async def accept_broadcast(
    engine: AsyncEngine,
    queue: SqlJobQueue,
    project_id: str,
    command: SendCommand,
    *,
    fingerprint: str,
    idempotency_key: str | None = None,
    kind: str = "broadcast",
) -> AcceptedSend:
    """Store a broadcast and its planning job, due now or at its scheduled time.

    Same signature as `accept_send`, so the send route calls either; sends to explicit
    recipients are scheduled by `accept_send` itself.
    """
    now = utcnow()
    assert command.broadcast is not None
    raw_schedule = command.broadcast.get("schedule")
    schedule = Schedule.model_validate(raw_schedule) if raw_schedule else None
    if schedule is not None:
        check_schedule(schedule, now)
    due = plan_at(schedule) if schedule is not None else None
    async with engine.connect() as conn:
        await check_references(conn, project_id, command.broadcast)
    status = SendStatus.SCHEDULED if due is not None and due > now else SendStatus.ACCEPTED
    if idempotency_key is not None:
        async with engine.connect() as conn:
            existing = await send_store.find_by_idempotency_key(conn, project_id, idempotency_key)
        if existing is not None:
            if existing["request_hash"] != fingerprint:
                raise IdempotencyConflict(idempotency_key)
            return AcceptedSend(existing["id"], existing["status"], 0, replayed=True)
    send_id = send_store.new_send_id()
    async with engine.begin() as conn:
        await send_store.insert_send(
            conn,
            send_id,
            project_id,
            kind,
            command.to_document(),
            fingerprint,
            idempotency_key,
        )
        await conn.execute(
            update(sends).where(sends.c.id == send_id).values(status=status, scheduled_at=due)
        )
        job = plan_job(send_id)
        await queue.enqueue(
            conn,
            [
                NewJob(
                    job.kind,
                    job.payload,
                    job.send_id,
                    job.priority,
                    due if status == SendStatus.SCHEDULED else None,
                )
            ],
        )
    return AcceptedSend(send_id, status, 0)
