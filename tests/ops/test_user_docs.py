"""The user documents speak of Clarion only: no planning words, no internal code names."""

from __future__ import annotations

import re

import pytest

from tests.ops.markdown import ROOT

# The developer documents (architecture, writing a dialect, the emulators' Python API)
# name code on purpose; every other page is for people using Clarion.
DEVELOPER = {"architecture.md", "dialects.md", "emulators.md"}
USER_DOCS = [ROOT / "README.md"] + [
    p for p in sorted((ROOT / "docs").rglob("*.md")) if p.name not in DEVELOPER
]
PLANNING = re.compile(r"\b(issues?|helpers?|the lead|belongs to the \w+ issue)\b", re.IGNORECASE)
CODE_NAMES = re.compile(r"`(?:clarion\.\w+\.\w+[\w.]*\(|[\w/]+\.py\b|src/clarion)")


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_doc_has_no_planning_words_or_code_names(path: object) -> None:
    assert hasattr(path, "read_text")
    text = path.read_text()  # type: ignore[attr-defined]
    assert not PLANNING.findall(text), PLANNING.findall(text)
    assert not CODE_NAMES.findall(text), CODE_NAMES.findall(text)
