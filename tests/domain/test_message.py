"""The message model: contents, fallback, background rules, reserved data, options."""

from __future__ import annotations

from typing import Any

import pytest

from clarion.domain.errors import MALFORMED_PARAMETER, MISSING_PARAMETER, DomainError
from clarion.domain.message import LocalizedContent, Message, parse_contents, parse_message


def error_of(data: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        parse_message(data)
    return caught.value


def test_single_content_with_every_option_is_accepted() -> None:
    message = parse_message(
        {
            "content": {
                "title": "Order",
                "subtitle": "Shipped",
                "body": "On its way",
                "sound": "default",
                "badge": 3,
                "deeplink": "shop://orders/1",
                "media": {
                    "icon": "https://cdn.example/i.png",
                    "video": "https://cdn.example/v.mp4",
                },
                "data": {"order": {"id": 1, "items": [1, 2]}},
                "category": "ORDER",
                "actions": [{"id": "track", "label": "Track", "deeplink": "shop://track"}],
                "thread_id": "orders",
                "landing": {
                    "theme": "MODAL",
                    "title": "Thanks",
                    "actions": [{"action": "deeplink", "label": "See", "args": {"l": "x"}}],
                    "contents": [{"language": "fr", "title": "Merci"}, {"title": "Thanks"}],
                },
            },
            "options": {
                "priority": "high",
                "ttl": 3600,
                "collapse_key": "orders",
                "mutable_content": True,
                "sandbox": True,
                "labels": ["a", "b", "c"],
                "webpush": {"urgency": "high", "topic": "orders"},
            },
        }
    )
    assert message.localized()[0].badge == 3
    assert message.options.ttl == 3600
    assert message.localized()[0].landing is not None


def test_models_are_frozen() -> None:
    content = LocalizedContent(body="x")
    with pytest.raises(ValueError):
        content.body = "y"  # type: ignore[misc]


def test_languages_are_normalized() -> None:
    message = parse_message({"contents": [{"language": "pt_BR", "body": "a"}, {"body": "b"}]})
    assert message.localized()[0].language == "pt-BR"


def test_bad_language_names_its_index() -> None:
    error = error_of(
        {
            "contents": [
                {"language": "fr", "body": "a"},
                {"body": "b"},
                {"language": "not a tag", "body": "c"},
            ]
        }
    )
    assert (error.code, error.field) == (MALFORMED_PARAMETER, "contents[2].language")


def test_several_languages_need_a_fallback() -> None:
    error = error_of(
        {"contents": [{"language": "fr", "body": "a"}, {"language": "es", "body": "b"}]}
    )
    assert (error.code, error.field) == (MISSING_PARAMETER, "contents")


def test_two_fallbacks_are_refused_at_the_second() -> None:
    error = error_of({"contents": [{"body": "a"}, {"language": "es", "body": "b"}, {"body": "c"}]})
    assert (error.code, error.field) == (MALFORMED_PARAMETER, "contents[2].language")


def test_a_language_given_twice_is_refused() -> None:
    error = error_of(
        {
            "contents": [
                {"language": "fr", "body": "a"},
                {"body": "b"},
                {"language": "FR", "body": "c"},
            ]
        }
    )
    assert error.field == "contents[2].language"


def test_a_single_content_with_a_language_is_its_own_fallback() -> None:
    assert parse_message({"contents": [{"language": "fr", "body": "a"}]}).contents is not None


@pytest.mark.parametrize("field", ["title", "subtitle", "body", "sound", "badge"])
def test_background_push_refuses_visible_content(field: str) -> None:
    value: Any = 1 if field == "badge" else "x"
    error = error_of({"content": {field: value}, "options": {"push_type": "background"}})
    assert error.code == MALFORMED_PARAMETER
    assert error.field == f"content.{field}"
    assert field in error.message


def test_background_push_names_the_content_index() -> None:
    error = error_of(
        {
            "contents": [
                {"data": {"a": 1}},
                {"language": "es", "media": {"picture": "https://a/b"}},
            ],
            "options": {"push_type": "background"},
        }
    )
    assert error.field == "contents[1].media"


def test_background_push_may_carry_data_only_or_nothing() -> None:
    with_data = parse_message(
        {"content": {"data": {"sync": True}}, "options": {"push_type": "background"}}
    )
    assert with_data.localized()[0].data == {"sync": True}
    empty = parse_message({"options": {"push_type": "background"}})
    assert empty.localized()[0].body is None


def test_alert_needs_content_and_text() -> None:
    assert error_of({}).field == "content"
    error = error_of({"content": {"sound": "default"}})
    assert (error.code, error.field) == (MISSING_PARAMETER, "content.body")


def test_content_and_contents_conflict() -> None:
    error = error_of({"content": {"body": "a"}, "contents": [{"body": "b"}]})
    assert error.field == "contents"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("aps", "content.data.aps"),
        ("from", "content.data.from"),
        ("notification", "content.data.notification"),
        ("message_type", "content.data.message_type"),
        ("collapse_key", "content.data.collapse_key"),
        ("google.c.a", 'content.data["google.c.a"]'),
        ("gcm.n.e", 'content.data["gcm.n.e"]'),
        ("clarion", "content.data.clarion"),
    ],
)
def test_reserved_data_keys_are_refused(key: str, path: str) -> None:
    error = error_of({"content": {"body": "x", "data": {key: "v"}}})
    assert (error.code, error.field) == (MALFORMED_PARAMETER, path)


def test_badge_rules() -> None:
    assert error_of({"content": {"body": "x", "badge": -1}}).field == "content.badge"
    both = error_of({"content": {"body": "x", "badge": 1, "badge_increment": 1}})
    assert both.field == "content.badge"
    assert error_of({"content": {"body": "x", "badge_increment": 0}}).field == (
        "content.badge_increment"
    )
    assert parse_message({"content": {"body": "x", "badge_increment": -2}}).content is not None


@pytest.mark.parametrize("ttl", [0, 2_419_201])
def test_ttl_bounds(ttl: int) -> None:
    assert error_of({"content": {"body": "x"}, "options": {"ttl": ttl}}).field == "options.ttl"


def test_ttl_extremes_are_accepted() -> None:
    for ttl in (1, 2_419_200):
        assert parse_message({"content": {"body": "x"}, "options": {"ttl": ttl}}).options.ttl == ttl


def test_media_urls_must_be_http_unless_templated() -> None:
    error = error_of({"content": {"body": "x", "media": {"picture": "ftp://a/b"}}})
    assert error.field == "content.media.picture"
    templated = parse_message({"content": {"body": "x", "media": {"picture": "{{ params.url }}"}}})
    assert templated.localized()[0].media.picture == "{{ params.url }}"


def test_unknown_fields_are_refused_with_their_path() -> None:
    assert error_of({"content": {"body": "x", "colour": "red"}}).field == "content.colour"


def test_at_most_three_labels_and_short_collapse_key() -> None:
    assert error_of(
        {"content": {"body": "x"}, "options": {"labels": ["a", "b", "c", "d"]}}
    ).field == ("options.labels")
    error = error_of({"content": {"body": "x"}, "options": {"collapse_key": "é" * 33}})
    assert error.field == "options.collapse_key"


def test_webpush_topic_must_be_url_safe() -> None:
    error = error_of({"content": {"body": "x"}, "options": {"webpush": {"topic": "a b"}}})
    assert error.field == "options.webpush.topic"


def test_landing_contents_need_a_fallback() -> None:
    error = error_of(
        {
            "content": {
                "body": "x",
                "landing": {"theme": "t", "contents": [{"language": "fr"}, {"language": "de"}]},
            }
        }
    )
    assert error.field == "content.landing.contents"


def test_parse_contents_for_templates() -> None:
    contents = parse_contents([{"language": "en", "body": "a"}, {"body": "b"}])
    assert [content.language for content in contents] == ["en", None]
    with pytest.raises(DomainError) as caught:
        parse_contents([{"language": "xx-!", "body": "a"}, {"body": "b"}])
    assert caught.value.field == "contents[0].language"


def test_message_equality_is_by_value() -> None:
    first = Message.model_validate({"content": {"body": "x"}})
    second = Message.model_validate({"content": {"body": "x"}})
    assert first == second
