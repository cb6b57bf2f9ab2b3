"""The vocabulary enums against the documented words, and no bare copies of them in the code."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import get_args

import pytest

from clarion.api.v1.installations import InstallationIn
from clarion.domain.segment_filter import Platform as SegmentPlatform
from clarion.domain.vocabulary import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    PLATFORM_PROVIDER,
    PUSH_PROVIDERS,
    DeliveryOutcome,
    DevicePlatform,
    ErrorCode,
    JobKind,
    Provider,
    SendStatus,
    provider_of,
)

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "clarion"
DOC = ROOT / "docs" / "vocabulary.md"
# Dialects speak their own codes, emulators play the providers, migrations are history,
# and the queue keeps its own job statuses.
NOT_SCANNED = ("api/dialects/", "emulators/", "store/migrations/", "domain/vocabulary.py")


def doc_table(heading: str) -> list[list[str]]:
    """The rows of the table under a `## heading` of docs/vocabulary.md, cells unquoted."""
    section = DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def first_column(heading: str) -> set[str]:
    return {row[0] for row in doc_table(heading)}


@pytest.mark.parametrize(
    ("heading", "enum"),
    [
        ("Providers", Provider),
        ("Device platforms", DevicePlatform),
        ("Send statuses", SendStatus),
        ("Delivery outcomes", DeliveryOutcome),
        ("Job kinds", JobKind),
        ("Error codes", ErrorCode),
    ],
)
def test_the_documented_words_are_the_enum_members(heading: str, enum: type[StrEnum]) -> None:
    assert first_column(heading) == {str(member) for member in enum}


def test_final_statuses_are_documented_and_partition_the_statuses() -> None:
    documented = {row[0] for row in doc_table("Send statuses") if row[1] == "yes"}
    assert documented == set(FINAL_STATUSES) == {s for s in SendStatus if s.final}
    assert set(OPEN_STATUSES) == set(SendStatus) - set(FINAL_STATUSES)


def test_platforms_map_to_the_documented_providers() -> None:
    for platform, provider in doc_table("Device platforms"):
        expected = Provider(provider) if provider in set(Provider) else None
        assert provider_of(platform) == expected
    assert set(PLATFORM_PROVIDER.values()) == set(PUSH_PROVIDERS)
    assert Provider.SMS not in PUSH_PROVIDERS


def test_the_api_and_segments_accept_exactly_the_device_platforms() -> None:
    # The request models keep their literal types so the OpenAPI document stays as it was.
    accepted = get_args(InstallationIn.model_fields["platform"].annotation)
    assert set(accepted) == set(DevicePlatform)
    assert set(get_args(SegmentPlatform)) == set(DevicePlatform)


def test_members_are_their_stored_strings() -> None:
    # Stored rows, JSON answers and dictionary keys see only the plain string.
    assert json.dumps({DeliveryOutcome.SENT: SendStatus.DONE}) == '{"sent": "done"}'
    assert {"sms_fallback": 1}[DeliveryOutcome.SMS_FALLBACK] == 1
    assert f"{SendStatus.DELIVERING}" == "delivering"


def scanned_sources() -> list[tuple[str, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if not relative.startswith(NOT_SCANNED):
            found.append((relative, path.read_text()))
    return found


def test_no_error_code_is_spelled_out_of_the_vocabulary() -> None:
    codes = "|".join(re.escape(code) for code in ErrorCode)
    literal = re.compile(rf"""(["'])({codes})\1""")
    bare = [
        f"{relative}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
        for relative, text in scanned_sources()
        for match in literal.finditer(text)
    ]
    assert bare == [], "use ErrorCode members instead of:\n" + "\n".join(bare)


def test_no_status_or_outcome_is_written_as_a_bare_string() -> None:
    words = {str(s) for s in SendStatus} | {str(o) for o in DeliveryOutcome}
    literal = re.compile(r"""(["'])([a-z_]+)\1""")
    bare = [
        f"{relative}:{number}: {line.strip()}"
        for relative, text in scanned_sources()
        if not relative.startswith("queue/")
        for number, line in enumerate(text.splitlines(), 1)
        if re.search(r"outcome|status", line, re.IGNORECASE)
        for match in literal.finditer(line)
        if match.group(2) in words
    ]
    assert bare == [], "use SendStatus / DeliveryOutcome members instead of:\n" + "\n".join(bare)
