"""The native send command: typed end to end, stored in the same JSON form as before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from clarion.domain.broadcast import Broadcast, Schedule
from clarion.domain.command import SendCommand, parse_send_command
from clarion.domain.errors import DomainError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

#: Documents as stored by earlier versions: each must still read, and write back the same.
STORED: list[dict[str, Any]] = [
    {
        "recipients": {"tokens": ["t1"]},
        "message": {"content": {"body": "hi"}},
        "apps": None,
        "params": {},
        "current": {},
        "language": None,
        "engagement": {},
        "schedule": {"at": "2026-06-02T09:00:00Z"},
    },
    {
        "recipients": {},
        "message": {"content": {"body": "news"}},
        "apps": ["app-1"],
        "params": {"x": 1},
        "current": {},
        "language": "fr",
        "engagement": {"inbox": {"expires_in": 3600, "only": False}},
        "broadcast": {
            "audience": {"filter": {"platforms": ["ios"]}},
            "exclude_lists": ["vip"],
            "only_last_engaged": True,
            "schedule": {"local_time": "09:30", "date": "2026-06-02", "past_time": "skip"},
        },
    },
    {
        "recipients": {"external_ids": ["ann"]},
        "message": {"content": {"body": "x"}},
        "apps": None,
        "params": {},
        "current": {},
        "language": None,
        "engagement": {},
        "dengage": {"tags": ["a"], "fallbackChannel": None, "inboxParams": None},
    },
]


def _normalized(document: dict[str, Any]) -> dict[str, Any]:
    # Recipients and messages are re-serialized by their models; compare what they mean.
    command = SendCommand.from_document(document)
    return {
        **document,
        "recipients": command.recipients.model_dump(mode="json")
        if "broadcast" not in document
        else document["recipients"],
        "message": command.message.model_dump(mode="json", exclude_none=True),
    }


@pytest.mark.parametrize("stored", STORED)
def test_a_stored_send_reads_back_into_the_same_document(stored: dict[str, Any]) -> None:
    command = SendCommand.from_document(stored)
    written = command.to_document()
    expected = _normalized(stored)
    if "broadcast" in stored:
        written["recipients"] = stored["recipients"]
        assert isinstance(command.broadcast, Broadcast)
        assert command.broadcast.schedule is not None
        assert command.broadcast.schedule.past_time == "skip"
    assert written == expected


def test_schedule_and_broadcast_are_typed_not_dicts() -> None:
    command = parse_send_command(
        {
            "recipients": {"tokens": ["t"]},
            "content": {"body": "x"},
            "schedule": {"at": "2026-06-01T13:00Z"},
        },
        None,
        NOW,
    )
    assert isinstance(command.schedule, Schedule)
    assert command.scheduled_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert command.to_document()["schedule"] == {"at": "2026-06-01T13:00:00Z"}
    broadcast = parse_send_command(
        {"audience": {"all": True}, "content": {"body": "x"}, "exclude_lists": ["a", "a"]},
        None,
        NOW,
    )
    assert isinstance(broadcast.broadcast, Broadcast)
    assert broadcast.broadcast.exclude_lists == ["a"]


def test_schedules_are_checked_against_the_time_passed_in() -> None:
    document = {
        "recipients": {"tokens": ["t"]},
        "content": {"body": "x"},
        "schedule": {"at": "2027-07-01T00:00Z"},
    }
    with pytest.raises(DomainError) as refused:
        parse_send_command(document, None, NOW)
    assert refused.value.field == "schedule"
    later = datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_send_command(document, None, later).scheduled_at is not None


def test_dialect_extras_ride_in_their_slot() -> None:
    command = parse_send_command(
        {"recipients": {"tokens": ["t"]}, "content": {"body": "x"}},
        None,
        NOW,
        extras={"dengage": {"tags": ["x"]}},
    )
    assert command.extras == {"dengage": {"tags": ["x"]}}
    assert command.to_document()["dengage"] == {"tags": ["x"]}
    assert SendCommand.from_document(command.to_document()).extras == command.extras
