"""Throttling a send: at most N messages start per M minutes, later ones wait for their window.

Every message of a throttled send gets a slot number (0, 1, 2, ... in the order the
dispatcher reaches it); slot `i` may start at `start + (i // N) * M minutes`, where
`start` is when the first slot was handed out. So window 0 holds slots 0..N-1, window
1 the next N, and so on: never more than N starts in any window of the schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clarion.domain.errors import DomainError
from clarion.domain.vocabulary import ErrorCode

MAX_PER_MINUTES = 7 * 24 * 60
MAX_MESSAGES = 10_000_000


@dataclass(frozen=True)
class ThrottleRule:
    """At most `messages` deliveries start in each window of `per_minutes` minutes."""

    messages: int
    per_minutes: int

    @property
    def window(self) -> timedelta:
        """Length of one window."""
        return timedelta(minutes=self.per_minutes)

    def to_json(self) -> dict[str, int]:
        """Stored form."""
        return {"messages": self.messages, "per_minutes": self.per_minutes}


def parse_throttle(value: Any, field: str = "throttle") -> ThrottleRule | None:
    """Validate `{"messages": N, "per_minutes": M}` (None means no throttling)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"messages", "per_minutes"}:
        raise DomainError(
            ErrorCode.MALFORMED_PARAMETER, "throttle is {messages, per_minutes}", field
        )
    limits = {"messages": MAX_MESSAGES, "per_minutes": MAX_PER_MINUTES}
    checked: dict[str, int] = {}
    for name, highest in limits.items():
        number = value.get(name)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= highest:
            raise DomainError(
                ErrorCode.MALFORMED_PARAMETER,
                f"{name} must be an integer from 1 to {highest}",
                f"{field}.{name}",
            )
        checked[name] = number
    return ThrottleRule(checked["messages"], checked["per_minutes"])


def slot_time(rule: ThrottleRule, slot: int, start: datetime) -> datetime:
    """When the message holding `slot` may start."""
    return start + (slot // rule.messages) * rule.window


def throttle_schedule(
    send_options: Mapping[str, Any], batch_index: int, batch_size: int, start: datetime
) -> datetime:
    """When batch `batch_index` (of `batch_size` messages each) may start.

    `send_options` is the stored send document (its `throttle` entry). A batch larger
    than the rule's N spreads over several windows: this is the time of its first
    message; `split_slots` tells each message's time.
    """
    rule = parse_throttle(send_options.get("throttle"))
    if rule is None:
        return start
    return slot_time(rule, batch_index * batch_size, start)


def split_slots(rule: ThrottleRule, first_slot: int, count: int, start: datetime) -> list[datetime]:
    """Start times of `count` consecutive slots beginning at `first_slot`."""
    return [slot_time(rule, first_slot + offset, start) for offset in range(count)]
