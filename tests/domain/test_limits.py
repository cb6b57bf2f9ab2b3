"""Size limits, the size check and UTF-8-safe truncation, with property tests."""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.domain.errors import PAYLOAD_TOO_LARGE, DomainError
from clarion.domain.limits import (
    ELLIPSIS,
    WEBPUSH_PLAINTEXT_LIMIT,
    BuiltPayload,
    check_size,
    fit_body,
    safe_cut,
    truncate_utf8,
)
from clarion.domain.message import Content, Options
from clarion.domain.payloads import build_apns, build_fcm, build_webpush

# Text without lone surrogates (a rendered body is real text), weighted towards
# multi-byte characters, combining marks, joiners and emoji modifiers.
TRICKY = st.sampled_from(
    [
        "e\u0301",
        "\U0001f469\u200d\U0001f4bb",
        "\U0001f44d\U0001f3fd",
        "\U0001f1eb\U0001f1f7",
        "\u00e9",
    ]
)
TEXT = st.lists(st.one_of(st.characters(exclude_categories=["Cs"]), TRICKY), max_size=3000).map(
    "".join
)

BUILDERS: dict[str, Callable[[Content, Options], BuiltPayload]] = {
    "apns": lambda content, options: build_apns(content, options, "com.example"),
    "fcm": lambda content, options: build_fcm(content, options, "token"),
    "webpush": build_webpush,
}


def test_webpush_plaintext_limit_matches_a_real_aes128gcm_record() -> None:
    receiver = ec.generate_private_key(ec.SECP256R1()).public_key()
    subscription_key = receiver.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )

    def encrypted_size(plaintext_size: int) -> int:
        return len(
            http_ece.encrypt(
                b"x" * plaintext_size,
                salt=os.urandom(16),
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=subscription_key,
                auth_secret=os.urandom(16),
                version="aes128gcm",
            )
        )

    assert WEBPUSH_PLAINTEXT_LIMIT == 3993
    assert encrypted_size(WEBPUSH_PLAINTEXT_LIMIT) == 4096
    assert encrypted_size(WEBPUSH_PLAINTEXT_LIMIT + 1) > 4096


@pytest.mark.parametrize("platform", sorted(BUILDERS))
def test_check_size_names_platform_and_size(platform: str) -> None:
    payload = BUILDERS[platform](Content(body="x" * 5000), Options())
    with pytest.raises(DomainError) as caught:
        check_size(payload)
    error = caught.value
    assert error.code == PAYLOAD_TOO_LARGE
    assert platform in error.message
    assert str(payload.limited_size) in error.message
    check_size(BUILDERS[platform](Content(body="x" * 100), Options()))


def test_fit_body_refuses_when_other_fields_are_too_big() -> None:
    content = Content(title="t" * 5000, body="short")
    with pytest.raises(DomainError) as caught:
        fit_body(content, lambda c: build_apns(c, Options(), "t"))
    assert caught.value.code == PAYLOAD_TOO_LARGE


def test_fit_body_leaves_fitting_content_alone() -> None:
    content = Content(body="fine")
    fitted, payload = fit_body(content, lambda c: build_apns(c, Options(), "t"))
    assert fitted is content
    assert payload.fits()


def test_fit_body_uses_the_room_it_has() -> None:
    content = Content(body="a" * 5000)
    fitted, payload = fit_body(content, lambda c: build_apns(c, Options(), "t"))
    assert payload.fits()
    longer = content.model_copy(update={"body": "a" * (len(fitted.body or "")) + ELLIPSIS})
    assert not build_apns(longer, Options(), "t").fits()


@pytest.mark.parametrize(
    ("text", "keep", "cut"),
    [
        ("abc", 2, 2),
        ("ae\u0301b", 2, 1),  # the combining accent stays with its e
        ("a\U0001f469\u200d\U0001f4bbb", 3, 1),  # a ZWJ sequence is kept whole
        ("a\U0001f44d\U0001f3fdb", 2, 1),  # a skin tone stays with its emoji
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 3, 2),  # flags are pairs
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 2, 2),
        ("x\ufe0fy", 1, 0),  # a variation selector follows its base
    ],
)
def test_safe_cut_keeps_graphemes(text: str, keep: int, cut: int) -> None:
    assert safe_cut(text, keep) == cut


def test_truncate_utf8_examples() -> None:
    assert truncate_utf8("short", 10) == "short"
    assert truncate_utf8("héllo world", 9) == "héllo" + ELLIPSIS
    assert truncate_utf8("héllo world", 8) == "héll" + ELLIPSIS
    assert truncate_utf8("日本語テキスト", 10) == "日本" + ELLIPSIS
    assert truncate_utf8("abc", 2) == ""


@settings(max_examples=150, deadline=None)
@given(text=TEXT, max_bytes=st.integers(min_value=3, max_value=2000))
def test_truncation_is_valid_utf8_bounded_and_a_prefix(text: str, max_bytes: int) -> None:
    result = truncate_utf8(text, max_bytes)
    encoded = result.encode("utf-8")  # raises if a surrogate was split
    assert encoded.decode("utf-8") == result
    assert len(encoded) <= max_bytes
    if result == text:
        assert len(text.encode()) <= max_bytes
        return
    assert result.endswith(ELLIPSIS)
    kept = result[: -len(ELLIPSIS)]
    assert text.startswith(kept)
    following = text[len(kept) :].lstrip()
    if following and kept:
        assert not unicodedata.combining(following[0])
        assert following[0] not in ("\u200d", "\ufe0f")
        assert not 0x1F3FB <= ord(following[0]) <= 0x1F3FF


CONTENTS = st.builds(
    Content,
    title=st.one_of(st.none(), TEXT.map(lambda text: text[:200])),
    body=TEXT,
    data=st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), TEXT.map(lambda text: text[:500])),
)


@settings(max_examples=120, deadline=None)
@given(content=CONTENTS, platform=st.sampled_from(sorted(BUILDERS)))
def test_fitted_payloads_are_json_within_limit_and_only_the_body_shrinks(
    content: Content, platform: str
) -> None:
    def build(candidate: Content) -> BuiltPayload:
        return BUILDERS[platform](candidate, Options())

    try:
        fitted, payload = fit_body(content, build)
    except DomainError as error:
        assert error.code == PAYLOAD_TOO_LARGE
        without_body = content.model_copy(update={"body": ELLIPSIS})
        assert not build(without_body).fits()
        return
    document = json.loads(payload.body.decode("utf-8"))
    assert isinstance(document, dict)
    assert payload.limited_size <= payload.limit
    assert payload.size == len(payload.body)
    assert fitted.model_dump(exclude={"body"}) == content.model_dump(exclude={"body"})
    if fitted.body != content.body:
        assert fitted.body is not None and fitted.body.endswith(ELLIPSIS)
        assert (content.body or "").startswith(fitted.body[: -len(ELLIPSIS)])
        assert len(fitted.body.encode()) <= len((content.body or "").encode()) + len(
            ELLIPSIS.encode()
        )
    if platform == "fcm":
        assert all(isinstance(value, str) for value in document["message"].get("data", {}).values())
