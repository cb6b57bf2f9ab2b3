"""The JSON reader every request body goes through, and the integer and header field types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from clarion.domain.safe_input import (
    MAX_JSON_DEPTH,
    HeaderValue,
    Int,
    UnsafeInput,
    check_text,
    loads_checked,
)


def refusal(raw: str | bytes, field: str | None = None) -> UnsafeInput:
    """The UnsafeInput raised for `raw`."""
    with pytest.raises(UnsafeInput) as caught:
        loads_checked(raw, field)
    return caught.value


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"a": NaN}', "a", "finite"),
        (b'{"a": [1, {"b": -Infinity}]}', "a[1].b", "finite"),
        (b'{"a": [1e400]}', "a[0]", "finite"),
        (b'{"a": 9223372036854775808}', "a", "64 bits"),
        (b'{"a": -9223372036854775809}', "a", "64 bits"),
        (b'{"a": ' + b"7" * 5000 + b"}", "a", "64 bits"),
        (b'{"t": ["ok", "a\\u0000b"]}', "t[1]", "NUL"),
        (b'{"t": {"u": "a\\ud800b"}}', "t.u", "surrogate"),
        (b'{"t": {"u": "\\udc00"}}', "t.u", "surrogate"),
        (b'{"t": {"k\\u0000": 1}}', "t", "key"),
        ('{"t": "a\ud800b"}', "t", "surrogate"),
        (b'"\\u0000"', None, "NUL"),
        (b"NaN", None, "finite"),
    ],
)
def test_refusals_name_the_path_of_the_value(
    raw: str | bytes, field: str | None, words: str
) -> None:
    error = refusal(raw)
    assert error.field == field and error.code == "MALFORMED_PARAMETER"
    assert words in error.message


def test_nesting_is_limited_and_never_exhausts_recursion() -> None:
    fits: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        fits = [fits]
    assert loads_checked(json.dumps(fits)) == fits
    assert refusal(json.dumps([fits])).field == "[0]" * MAX_JSON_DEPTH
    for depth in (1_000, 200_000):
        assert "nested deeper" in refusal(b"[" * depth + b"]" * depth).message


def test_a_prefix_names_where_an_embedded_document_sits() -> None:
    assert refusal('{"a": NaN}', "custom_payload").field == "custom_payload.a"


def test_ordinary_documents_are_returned_unchanged() -> None:
    document = {"é": ["h\u00e9", 1, -2.5, 2**63 - 1, -(2**63), None, True, {"x": "\U0001f600"}]}
    assert loads_checked(json.dumps(document)) == document
    assert loads_checked(json.dumps(document, ensure_ascii=False).encode()) == document


def test_utf8_encoded_surrogates_are_not_text() -> None:
    with pytest.raises(UnicodeDecodeError):
        loads_checked(b'{"t": "a\xed\xa0\x80b"}')


def test_check_text() -> None:
    assert check_text("fine", "f") == "fine"
    with pytest.raises(UnsafeInput) as caught:
        check_text("a\x00", "external_id")
    assert caught.value.field == "external_id"


class Fields(BaseModel):
    number: Int | None = None
    header: HeaderValue | None = None


@pytest.mark.parametrize(
    "values",
    [
        {"number": True},
        {"number": False},
        {"number": 2**63},
        {"header": "a\r\nb"},
        {"header": "caf\u00e9"},
        {"header": "tab\there"},
    ],
)
def test_integer_and_header_types_refuse(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Fields.model_validate(values)


def test_integer_and_header_types_accept() -> None:
    fields = Fields.model_validate({"number": "42", "header": "group-1 / a:b"})
    assert fields.number == 42 and fields.header == "group-1 / a:b"
