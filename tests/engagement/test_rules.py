"""Pure rules of the engagement features: throttle schedule, caps, option parsing, event buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.api.v1.events import TokenBuckets
from clarion.delivery.caps import capping_label, hits_for, window_starts
from clarion.domain.engagement import Engagement, parse_engagement
from clarion.domain.errors import DomainError
from clarion.domain.throttle import (
    ThrottleRule,
    parse_throttle,
    slot_time,
    split_slots,
    throttle_schedule,
)

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_slots_fill_one_window_before_the_next() -> None:
    rule = ThrottleRule(messages=3, per_minutes=10)
    times = split_slots(rule, 0, 7, START)
    assert times == [START] * 3 + [START + timedelta(minutes=10)] * 3 + [
        START + timedelta(minutes=20)
    ]


def test_slots_continue_from_an_earlier_reservation() -> None:
    rule = ThrottleRule(messages=2, per_minutes=5)
    assert split_slots(rule, 3, 2, START) == [
        START + timedelta(minutes=5),
        START + timedelta(minutes=10),
    ]


@given(
    messages=st.integers(1, 50),
    per_minutes=st.integers(1, 120),
    count=st.integers(0, 400),
)
def test_no_window_ever_holds_more_than_n_starts(
    messages: int, per_minutes: int, count: int
) -> None:
    rule = ThrottleRule(messages, per_minutes)
    starts = split_slots(rule, 0, count, START)
    assert starts == sorted(starts)
    for when in set(starts):
        assert (when - START) % rule.window == timedelta(0)
        assert starts.count(when) <= messages
    # Nothing waits longer than needed: the last window is the one its slot falls in.
    if count:
        assert starts[-1] == START + ((count - 1) // messages) * rule.window


def test_throttle_schedule_of_batches() -> None:
    options = {"throttle": {"messages": 100, "per_minutes": 1}}
    assert throttle_schedule(options, 0, 100, START) == START
    assert throttle_schedule(options, 3, 100, START) == START + timedelta(minutes=3)
    assert throttle_schedule(options, 1, 50, START) == START
    assert throttle_schedule({}, 9, 100, START) == START
    assert slot_time(ThrottleRule(1, 2), 4, START) == START + timedelta(minutes=8)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"messages": 0, "per_minutes": 1}, "throttle.messages"),
        ({"messages": 5}, "throttle.per_minutes"),
        ({"messages": True, "per_minutes": 1}, "throttle.messages"),
        ({"messages": 1, "per_minutes": 1, "burst": 3}, "throttle"),
        ([1, 2], "throttle"),
    ],
)
def test_bad_throttles_are_refused(value: object, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_throttle(value)
    assert caught.value.field == field


def test_engagement_options_round_trip() -> None:
    parsed = parse_engagement(
        {
            "inbox": {"expires_in": 600},
            "inbox_only": True,
            "sms_fallback": {"body": "Hi {{ contact.external_id }}", "sender": "Clarion"},
            "throttle": {"messages": 5, "per_minutes": 2},
        }
    )
    assert parsed.inbox is not None and parsed.inbox.only and parsed.inbox.expires_in == 600
    assert Engagement.from_json(parsed.to_json()) == parsed
    assert parse_engagement({}) == Engagement()
    assert not Engagement().needs_finish and parsed.needs_finish
    only = parse_engagement({"inbox_only": True})
    assert only.inbox is not None and only.inbox.only and only.inbox.expires_in is None


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"sms_fallback": {"body": ""}}, "sms_fallback.body"),
        ({"sms_fallback": {"body": "{% if %}"}}, "sms_fallback.body"),
        ({"sms_fallback": {"body": "x", "sender": ""}}, "sms_fallback.sender"),
        ({"sms_fallback": "text"}, "sms_fallback"),
        ({"inbox": {"expires_in": 0}}, "inbox.expires_in"),
        ({"inbox": {"ttl": 3}}, "inbox"),
        ({"inbox_only": "yes"}, "inbox_only"),
    ],
)
def test_bad_engagement_options_are_refused(document: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_engagement(document)
    assert caught.value.field == field


def test_a_contact_is_capped_once_it_reached_the_maximum() -> None:
    rules = [
        {"label": "promo", "max_sends": 2, "period_seconds": 3600},
        {"label": "news", "max_sends": 0, "period_seconds": 60},
    ]
    assert capping_label(1, rules[:1], {(1, "promo"): 1}) is None
    assert capping_label(1, rules[:1], {(1, "promo"): 2}) == "promo"
    assert capping_label(2, rules, {}) == "news"
    assert window_starts(rules, START) == {
        "promo": START - timedelta(hours=1),
        "news": START - timedelta(minutes=1),
    }
    hits = hits_for("snd_1", ("a", "b"), [7, 7, 3], START)
    assert [(h["contact_pk"], h["label"]) for h in hits] == [(3, "a"), (3, "b"), (7, "a"), (7, "b")]


def test_token_buckets_allow_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, max_keys=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0
    now[0] = 1.0
    assert buckets.take("a") == 0.0
    buckets.take("c")
    # Only the two most recently seen keys are kept: "b" is forgotten.
    assert set(buckets._buckets) == {"a", "c"}
