"""Language choice: override > contact > installation > fallback, closest match."""

from __future__ import annotations

import pytest

from clarion.domain.language import best_language, choose_content
from clarion.domain.message import LocalizedContent
from clarion.domain.personalize import compile_contents

CONTENTS = (
    LocalizedContent(language="pt-PT", body="pt-PT"),
    LocalizedContent(language="zh-Hant", body="zh-Hant"),
    LocalizedContent(language="zh-Hans", body="zh-Hans"),
    LocalizedContent(language="en", body="en"),
    LocalizedContent(language="fr", body="fr"),
    LocalizedContent(body="fallback"),
)


@pytest.mark.parametrize(
    ("desired", "expected"),
    [
        ("pt-BR", "pt-PT"),
        ("pt", "pt-PT"),
        ("zh-HK", "zh-Hant"),
        ("zh-TW", "zh-Hant"),
        ("zh-CN", "zh-Hans"),
        ("en-GB", "en"),
        ("en_US", "en"),
        ("fr-CA", "fr"),
        ("de", "fallback"),
        ("ja", "fallback"),
        ("not a language", "fallback"),
    ],
)
def test_language_table(desired: str, expected: str) -> None:
    assert choose_content(CONTENTS, override=desired).body == expected


def test_precedence_override_then_contact_then_installation() -> None:
    chosen = choose_content(CONTENTS, "fr", "en", "pt-BR")
    assert chosen.body == "fr"
    assert choose_content(CONTENTS, None, "en", "pt-BR").body == "en"
    assert choose_content(CONTENTS, None, None, "pt-BR").body == "pt-PT"
    assert choose_content(CONTENTS).body == "fallback"


def test_a_preference_without_match_gives_way_to_the_next() -> None:
    assert choose_content(CONTENTS, "de", None, "fr").body == "fr"


def test_exact_region_beats_close_region() -> None:
    contents = (
        LocalizedContent(language="pt-PT", body="pt-PT"),
        LocalizedContent(language="pt-BR", body="pt-BR"),
        LocalizedContent(body="fallback"),
    )
    assert choose_content(contents, "pt-BR").body == "pt-BR"
    assert choose_content(contents, "pt-AO").body == "pt-PT"


def test_single_content_is_the_fallback_even_with_a_language() -> None:
    only = (LocalizedContent(language="fr", body="fr"),)
    assert choose_content(only, "ja").body == "fr"


def test_no_content_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        choose_content(())


def test_best_language_threshold() -> None:
    assert best_language("nb", ["no", "sv"]) == "no"
    assert best_language("zh-HK", ["zh-Hans"]) is None
    assert best_language("fr", ["de", "es"]) is None


def test_choose_among_compiled_contents() -> None:
    compiled = compile_contents(CONTENTS)
    assert choose_content(compiled, "zh-HK").content.body == "zh-Hant"
