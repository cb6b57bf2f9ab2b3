"""Small plain send bodies skip the trial payload builds: none of them may reach a limit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clarion.domain.command import (
    SMALL_PLAIN_CHARS,
    canonical_json,
    check_message,
    parse_send_command,
    small_and_plain,
)
from clarion.domain.errors import DomainError
from clarion.domain.message import parse_message
from clarion.domain.vocabulary import ErrorCode

# Characters that grow the most when escaped or encoded, and plain ones.
_TEXT = st.text(
    alphabet=st.sampled_from(['"', "\\", "\n", "\x01", "é", "\u2028", "\U0001f600", "a", "<"]),
    max_size=200,
)
_URL_TAIL = st.text(alphabet=st.sampled_from(['"', "\\", "é", "a", "%", "<"]), max_size=300)


def _body(message: dict[str, Any]) -> dict[str, Any]:
    return {"recipients": {"tokens": ["a" * 64]}, **message}


@st.composite
def _messages(draw: st.DrawFn) -> dict[str, Any]:
    content: dict[str, Any] = {"title": draw(_TEXT), "body": draw(_TEXT)}
    if draw(st.booleans()):
        content["subtitle"] = draw(_TEXT)
    media = {
        name: "https://m.example/" + draw(_URL_TAIL)
        for name in ("icon", "picture", "audio", "video")
        if draw(st.booleans())
    }
    if media:
        content["media"] = media
    if draw(st.booleans()):
        content["deeplink"] = "app://" + draw(_URL_TAIL)
    actions = draw(st.integers(0, 3))
    if actions:
        content["actions"] = [
            {"id": f"a{index}", "label": draw(_TEXT.filter(bool)), "deeplink": "app://x"}
            for index in range(actions)
        ]
    if draw(st.booleans()):
        content["data"] = {"k": draw(_TEXT), "n": {"list": [draw(_TEXT), 1, True]}}
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["webpush"] = {
            "icon": "https://m.example/" + draw(_URL_TAIL),
            "badge": "https://m.example/" + draw(_URL_TAIL),
            "require_interaction": True,
        }
    if draw(st.booleans()):
        options["collapse_key"] = "c" * draw(st.integers(1, 64))
    return {"content": content, "options": options}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_messages())
def test_small_plain_bodies_fit_every_platform(message: dict[str, Any]) -> None:
    body = _body(message)
    assume(small_and_plain(canonical_json(body)))
    try:
        parsed = parse_message(message)
    except DomainError:
        assume(False)
        raise
    check_message(parsed, "content")


@pytest.mark.parametrize("quote", ['"', "\\", "\x01"])
def test_the_densest_small_body_still_fits(quote: str) -> None:
    # A picture URL goes to FCM's notification and, escaped, into its data: the most
    # any character of the body can weigh in a payload.
    body = _body({"content": {"title": "t", "media": {"picture": "https://m.example/"}}})
    base = len(canonical_json(body))
    room = SMALL_PLAIN_CHARS - base
    tail = quote * (room // len(canonical_json(quote)[1:-1]))
    body["content"]["media"]["picture"] += tail
    canonical = canonical_json(body)
    if quote == "\x01":
        # Control characters are refused in URLs; put them in the title instead.
        body["content"]["media"]["picture"] = "https://m.example/" + "a" * (room // 4)
        body["content"]["title"] = "t" + quote * ((room - room // 4) // 6)
        canonical = canonical_json(body)
    assert small_and_plain(canonical)
    assert len(canonical) > SMALL_PLAIN_CHARS - 12
    parsed = parse_message({"content": body["content"]})
    check_message(parsed, "content")
    command = parse_send_command(body, None, canonical=canonical)
    assert command.message == parsed


def test_markup_or_size_keeps_the_full_check() -> None:
    assert not small_and_plain(canonical_json({"content": {"body": "{{ params.x }}"}}))
    assert not small_and_plain(canonical_json({"content": {"body": "{% if x %}y{% endif %}"}}))
    assert not small_and_plain(canonical_json({"content": {"body": "x" * SMALL_PLAIN_CHARS}}))
    large = _body({"content": {"body": "x" * 5_000}})
    with pytest.raises(DomainError) as refused:
        parse_send_command(large, None, canonical=canonical_json(large))
    assert refused.value.code == ErrorCode.PAYLOAD_TOO_LARGE
