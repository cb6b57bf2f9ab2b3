"""Provider requests built from one content: APNs, FCM v1 and Web Push mappings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clarion.domain.errors import PAYLOAD_TOO_LARGE, DomainError
from clarion.domain.limits import (
    APNS_PAYLOAD_LIMIT,
    ELLIPSIS,
    FCM_PAYLOAD_LIMIT,
    WEBPUSH_PLAINTEXT_LIMIT,
)
from clarion.domain.message import Content, LocalizedContent, Options, parse_message
from clarion.domain.payloads import build_apns, build_fcm, build_payload, build_webpush
from clarion.domain.vocabulary import Provider

NOW = 1_700_000_000


def full_content() -> LocalizedContent:
    message = parse_message(
        {
            "content": {
                "title": "T",
                "subtitle": "S",
                "body": "B é",
                "sound": "default",
                "badge_increment": 2,
                "deeplink": "https://shop.example/o/1",
                "media": {
                    "icon": "https://cdn.example/i.png",
                    "picture": "https://cdn.example/p.png",
                },
                "data": {"order": 7, "meta": {"a": [1, "x"]}, "note": "plain"},
                "category": "ORDER",
                "thread_id": "orders",
                "actions": [{"id": "track", "label": "Track"}],
                "landing": {"theme": "MODAL", "title": "Thanks"},
            }
        }
    )
    return message.localized()[0]


def background_content() -> LocalizedContent:
    message = parse_message(
        {"content": {"data": {"sync": "1"}}, "options": {"push_type": "background"}}
    )
    return message.localized()[0]


def body_of(payload_body: bytes) -> Any:
    return json.loads(payload_body.decode("utf-8"))


class TestApns:
    """APNs headers and body."""

    def test_alert_request(self) -> None:
        options = Options(ttl=60, collapse_key="orders")
        payload = build_apns(full_content(), options, "com.example.shop", badge_count=3, now=NOW)
        assert payload.headers == {
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-topic": "com.example.shop",
            "apns-expiration": str(NOW + 60),
            "apns-collapse-id": "orders",
        }
        document = body_of(payload.body)
        assert document["aps"] == {
            "alert": {"title": "T", "subtitle": "S", "body": "B é"},
            "sound": "default",
            "badge": 5,
            "mutable-content": 1,
            "thread-id": "orders",
            "category": "ORDER",
        }
        assert document["order"] == 7
        assert document["meta"] == {"a": [1, "x"]}
        assert document["clarion"]["deeplink"] == "https://shop.example/o/1"
        assert document["clarion"]["media"]["picture"] == "https://cdn.example/p.png"
        assert document["clarion"]["landing"] == {"theme": "MODAL", "title": "Thanks"}
        assert document["clarion"]["actions"] == [{"id": "track", "label": "Track"}]
        assert payload.badge == 5
        assert payload.size == len(payload.body) == payload.limited_size
        assert payload.limit == APNS_PAYLOAD_LIMIT

    def test_body_is_compact_utf8(self) -> None:
        payload = build_apns(Content(body="é"), Options(), "t")
        assert payload.body == '{"aps":{"alert":{"body":"é"}}}'.encode()

    def test_background_request(self) -> None:
        options = Options(push_type="background", priority="high")
        payload = build_apns(background_content(), options, "com.example.shop", now=NOW)
        assert payload.headers["apns-push-type"] == "background"
        assert payload.headers["apns-priority"] == "5"
        assert "apns-expiration" not in payload.headers
        assert body_of(payload.body) == {"sync": "1", "aps": {"content-available": 1}}

    def test_normal_priority_and_content_available_alert(self) -> None:
        options = Options(priority="normal", content_available=True)
        payload = build_apns(Content(body="x"), options, "t")
        assert payload.headers["apns-priority"] == "5"
        assert body_of(payload.body)["aps"]["content-available"] == 1

    def test_badge_set_and_increment_clamped(self) -> None:
        assert build_apns(Content(body="x", badge=0), Options(), "t").badge == 0
        decrement = build_apns(Content(body="x", badge_increment=-5), Options(), "t", badge_count=2)
        assert body_of(decrement.body)["aps"]["badge"] == 0
        unknown = build_apns(Content(body="x", badge_increment=1), Options(), "t")
        assert unknown.badge == 1

    def test_mutable_content_only_for_attachments_or_when_asked(self) -> None:
        icon_only = Content(body="x", media={"icon": "https://cdn.example/i.png"})
        assert "mutable-content" not in body_of(build_apns(icon_only, Options(), "t").body)["aps"]
        video = Content(body="x", media={"video": "https://cdn.example/v.mp4"})
        assert body_of(build_apns(video, Options(), "t").body)["aps"]["mutable-content"] == 1
        asked = build_apns(Content(body="x"), Options(mutable_content=True), "t")
        assert body_of(asked.body)["aps"]["mutable-content"] == 1

    def test_topic_is_required(self) -> None:
        with pytest.raises(ValueError):
            build_apns(Content(body="x"), Options(), "")


class TestFcm:
    """The FCM v1 message object."""

    def test_alert_request(self) -> None:
        options = Options(ttl=60, collapse_key="orders", priority="high", android_channel_id="shop")
        payload = build_fcm(full_content(), options, "reg-token", badge_count=1, now=NOW)
        message = body_of(payload.body)["message"]
        assert message["token"] == "reg-token"
        assert message["notification"] == {
            "title": "T",
            "body": "B é",
            "image": "https://cdn.example/p.png",
        }
        assert all(isinstance(value, str) for value in message["data"].values())
        assert message["data"]["order"] == "7"
        assert json.loads(message["data"]["meta"]) == {"a": [1, "x"]}
        assert message["data"]["note"] == "plain"
        assert json.loads(message["data"]["clarion"])["deeplink"] == "https://shop.example/o/1"
        assert message["android"] == {
            "priority": "HIGH",
            "ttl": "60s",
            "collapse_key": "orders",
            "notification": {
                "sound": "default",
                "click_action": "ORDER",
                "channel_id": "shop",
                "notification_count": 3,
            },
        }
        assert message["apns"]["headers"] == {
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(NOW + 60),
            "apns-collapse-id": "orders",
        }
        assert message["apns"]["payload"]["aps"]["alert"]["subtitle"] == "S"
        assert message["apns"]["fcm_options"] == {"image": "https://cdn.example/p.png"}
        assert message["webpush"]["headers"] == {"TTL": "60", "Urgency": "high", "Topic": "orders"}
        assert message["webpush"]["notification"]["icon"] == "https://cdn.example/i.png"
        assert message["webpush"]["fcm_options"] == {"link": "https://shop.example/o/1"}
        limited = {"notification": message["notification"], "data": message["data"]}
        expected = json.dumps(limited, ensure_ascii=False, separators=(",", ":")).encode()
        assert payload.limited_size == len(expected)
        assert payload.limit == FCM_PAYLOAD_LIMIT
        assert payload.badge == 3

    def test_background_is_a_data_message(self) -> None:
        options = Options(push_type="background")
        message = body_of(build_fcm(background_content(), options, "tok").body)["message"]
        assert "notification" not in message
        assert message["data"] == {"sync": "1"}
        assert message["android"] == {"priority": "NORMAL"}
        assert message["apns"]["headers"]["apns-push-type"] == "background"
        assert message["apns"]["headers"]["apns-priority"] == "5"
        assert message["apns"]["payload"] == {"aps": {"content-available": 1}}
        assert "notification" not in message["webpush"]
        assert message["webpush"]["headers"]["Urgency"] == "low"

    def test_custom_scheme_deeplink_is_not_a_web_link(self) -> None:
        message = body_of(build_fcm(Content(body="x", deeplink="app://a"), Options(), "t").body)
        assert "fcm_options" not in message["message"]["webpush"]
        assert json.loads(message["message"]["data"]["clarion"]) == {"deeplink": "app://a"}

    def test_token_is_required(self) -> None:
        with pytest.raises(ValueError):
            build_fcm(Content(body="x"), Options(), "")


class TestWebPush:
    """Web Push plaintext and headers."""

    def test_alert_plaintext_and_headers(self) -> None:
        options = Options.model_validate(
            {
                "collapse_key": "orders",
                "webpush": {
                    "urgency": "very-low",
                    "badge": "https://cdn.example/b.png",
                    "require_interaction": True,
                },
            }
        )
        payload = build_webpush(full_content(), options)
        assert payload.headers == {"TTL": "2419200", "Urgency": "very-low", "Topic": "orders"}
        document = body_of(payload.body)
        assert document == {
            "title": "T",
            "body": "B é",
            "icon": "https://cdn.example/i.png",
            "image": "https://cdn.example/p.png",
            "badge": "https://cdn.example/b.png",
            "tag": "orders",
            "actions": [{"action": "track", "title": "Track"}],
            "requireInteraction": True,
            "url": "https://shop.example/o/1",
            "data": {"order": 7, "meta": {"a": [1, "x"]}, "note": "plain"},
            "clarion": document["clarion"],
        }
        assert document["clarion"]["landing"]["theme"] == "MODAL"
        assert payload.limit == WEBPUSH_PLAINTEXT_LIMIT

    def test_options_override_icon_and_actions(self) -> None:
        options = Options.model_validate(
            {
                "webpush": {
                    "icon": "https://cdn.example/w.png",
                    "actions": [{"id": "yes", "label": "Yes"}],
                }
            }
        )
        document = body_of(build_webpush(full_content(), options).body)
        assert document["icon"] == "https://cdn.example/w.png"
        assert document["actions"] == [{"action": "yes", "title": "Yes"}]

    def test_headers_from_options(self) -> None:
        headers = build_webpush(Content(body="x"), Options(ttl=5, priority="high")).headers
        assert headers == {"TTL": "5", "Urgency": "high"}
        not_a_topic = Options(collapse_key="has spaces")
        assert "Topic" not in build_webpush(Content(body="x"), not_a_topic).headers
        explicit = Options.model_validate({"collapse_key": "a", "webpush": {"topic": "b"}})
        assert build_webpush(Content(body="x"), explicit).headers["Topic"] == "b"
        assert build_webpush(Content(body="x"), Options()).headers["Urgency"] == "normal"

    def test_background_carries_only_data(self) -> None:
        payload = build_webpush(background_content(), Options(push_type="background"))
        assert body_of(payload.body) == {"data": {"sync": "1"}}
        assert payload.headers["Urgency"] == "low"


def test_lone_surrogates_still_give_valid_json() -> None:
    content = Content(body="x", data={"k": "\ud800"})
    for payload in (
        build_apns(content, Options(), "t"),
        build_fcm(content, Options(), "t"),
        build_webpush(content, Options()),
    ):
        assert json.loads(payload.body)


class TestBuildPayload:
    """Platform dispatch and limit enforcement."""

    def test_dispatches_per_platform(self) -> None:
        content = Content(body="x")
        _, apns = build_payload(Provider.APNS, content, Options(), "com.example", now=NOW)
        assert apns.platform == "apns"
        assert apns.headers["apns-topic"] == "com.example"
        _, fcm = build_payload(Provider.FCM, content, Options(), "tok")
        assert body_of(fcm.body)["message"]["token"] == "tok"
        _, webpush = build_payload(Provider.WEBPUSH, content, Options(), "")
        assert body_of(webpush.body) == {"body": "x"}

    def test_refuses_oversize_unless_truncation_is_asked(self) -> None:
        content = Content(title="t", body="é" * 3000)
        with pytest.raises(DomainError) as caught:
            build_payload(Provider.APNS, content, Options(), "com.example")
        assert caught.value.code == PAYLOAD_TOO_LARGE
        sent, payload = build_payload(
            Provider.APNS, content, Options(truncate_body=True), "com.example"
        )
        assert payload.fits()
        assert sent.title == "t"
        assert sent.body is not None and sent.body.endswith(ELLIPSIS)
