"""Choose, per recipient, which localized content to send."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, TypeVar

import langcodes

from clarion.domain.tags import normalize_language_tag

#: Largest langcodes distance still counted as a match. 25 accepts regional variants
#: (pt-BR/pt-PT 5, en-GB/en 5), script-compatible tags (zh-HK/zh-Hant 5) and close
#: languages people read (no/nb 1, da/nb 12, nn/nb 20) but not a different script of
#: the same language (zh-HK/zh-Hans 54) nor unrelated languages (fr/de 84).
MAX_LANGUAGE_DISTANCE: Final = 25


class Localized(Protocol):
    """Anything carrying an optional language: a LocalizedContent or a CompiledContent."""

    @property
    def language(self) -> str | None:
        """The BCP 47 tag, or None for the fallback."""


_Localized = TypeVar("_Localized", bound=Localized)


def best_language(desired: str, available: Sequence[str]) -> str | None:
    """The available tag closest to `desired` within MAX_LANGUAGE_DISTANCE, or None.

    Ties keep the earlier entry of `available`; an invalid `desired` matches nothing.
    """
    wanted = normalize_language_tag(desired)
    if wanted is None or not available:
        return None
    best: str | None = None
    best_distance = MAX_LANGUAGE_DISTANCE + 1
    for tag in available:
        distance: int = langcodes.tag_distance(wanted, tag)
        if distance < best_distance:
            best, best_distance = tag, distance
    return best


def fallback_of(contents: Sequence[_Localized]) -> _Localized:
    """The content without language, or the only content when there is just one."""
    for content in contents:
        if content.language is None:
            return content
    if len(contents) == 1:
        return contents[0]
    raise ValueError("localized contents without a fallback")  # the model forbids this


def choose_content(
    contents: Sequence[_Localized],
    override: str | None = None,
    contact_language: str | None = None,
    installation_language: str | None = None,
) -> _Localized:
    """Pick the content for one recipient.

    Preferences are tried in order: the explicit per-recipient override, then the
    contact's language, then the installation's; the first one with a close enough
    content (see MAX_LANGUAGE_DISTANCE) wins. Otherwise the fallback is sent.
    """
    if not contents:
        raise ValueError("no content to choose from")
    by_language = {content.language: content for content in contents if content.language}
    tags = list(by_language)
    for preference in (override, contact_language, installation_language):
        if not preference:
            continue
        tag = best_language(preference, tags)
        if tag is not None:
            return by_language[tag]
    return fallback_of(contents)
