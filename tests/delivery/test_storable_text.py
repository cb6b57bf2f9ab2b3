"""Failure reasons always fit their column: no NUL, no lone surrogate, clipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clarion.store.text import describe, storable


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_any_text_becomes_storable(text: str, limit: int) -> None:
    cleaned = storable(text, limit)
    assert "\x00" not in cleaned and len(cleaned) <= limit
    cleaned.encode("utf-8")


def test_describe_names_the_exception_and_escapes_what_cannot_be_stored() -> None:
    assert describe(KeyError("recipients")) == "KeyError: 'recipients'"
    assert describe(RuntimeError()) == "RuntimeError"
    assert describe(ValueError("a\ud800b\x00c")) == "ValueError: a\\ud800b\\x00c"
    assert describe(ValueError("x" * 500), 20) == "ValueError: " + "x" * 8


def test_an_exception_whose_message_cannot_be_read_is_still_described() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise TypeError("no message")

    assert describe(Broken()) == "Broken"
