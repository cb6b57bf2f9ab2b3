"""BCP 47 language tag checking and normalization shared by the model and language choice."""

from __future__ import annotations

import langcodes


def normalize_language_tag(tag: str) -> str | None:
    """Return the standard form of a BCP 47 tag ("pt_BR" -> "pt-BR"), or None when invalid.

    Underscores are accepted because mobile SDKs report locales as "pt_BR".
    "und" and private-use-only tags carry no language and are refused.
    """
    candidate = tag.strip().replace("_", "-")
    if not candidate or len(candidate) > 35 or not langcodes.tag_is_valid(candidate):
        return None
    standard: str = langcodes.standardize_tag(candidate)
    if standard == "und" or standard.startswith(("x-", "und-")):
        return None
    return standard
