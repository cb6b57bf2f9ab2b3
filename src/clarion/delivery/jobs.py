"""The kinds of jobs delivery puts on the queue and their payloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import JobKind
from clarion.queue.models import NewJob

PLAN_SEND = JobKind.PLAN_SEND
DELIVER = JobKind.DELIVER
FINISH_SEND = JobKind.FINISH_SEND
#: How a `deliver` job queued by an earlier version asked for the last step instead.
LEGACY_FINISH_PHASE = "finish"

#: Devices per delivery job: big enough to amortize the database round trips, small
#: enough that a worker killed mid-batch re-sends little (only its in-flight batch).
DELIVERY_BATCH = 500


@dataclass(frozen=True, slots=True)
class HandedSend:
    """A deliver job's context when accept hands it to this process's worker."""

    #: The send as `store.sends.get_send` would read it back (the columns delivery uses).
    send: dict[str, Any]
    command: SendCommand


def plan_job(send_id: str, run_at: datetime | None = None) -> NewJob:
    """The job that resolves a send's recipients into deliveries (at `run_at`, else now).

    Same priority as deliveries, so jobs run in due order: a burst of sends to plan never
    holds back the deliveries of sends already planned.
    """
    return NewJob(kind=PLAN_SEND, payload={"send_id": send_id}, send_id=send_id, run_at=run_at)


def deliver_job(send_id: str, delivery_ids: list[int], run_at: datetime | None = None) -> NewJob:
    """A job delivering a batch of a send's pending deliveries."""
    return NewJob(
        kind=DELIVER,
        payload={"send_id": send_id, "delivery_ids": delivery_ids},
        send_id=send_id,
        run_at=run_at,
    )


def finish_job(send_id: str) -> NewJob:
    """The job running a send's last step."""
    return NewJob(kind=FINISH_SEND, payload={"send_id": send_id}, send_id=send_id)


def is_legacy_finish(payload: dict[str, Any]) -> bool:
    """Whether a `deliver` job is really a last step queued by an earlier version."""
    return payload.get("phase") == LEGACY_FINISH_PHASE
