"""docs/architecture.md names files and functions of the send path: each must exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

DOC = Path(__file__).parent.parent / "docs" / "architecture.md"
#: `room/module.py: Name, Other.method` as the document writes it (possibly over lines).
REFERENCE = re.compile(r"`([a-z0-9_/]+)\.py:\s+([A-Za-z_.,\s]+?)(?:\([^`]*\))?`")


def _references() -> list[tuple[str, str]]:
    found = []
    for path, names in REFERENCE.findall(DOC.read_text()):
        for name in names.split(","):
            if name.strip():
                found.append((path, name.strip()))
    return found


def test_the_document_names_the_rooms_of_one_send() -> None:
    rooms = {path.split("/")[0] for path, _ in _references()}
    assert {"api", "sending", "delivery", "queue", "store", "domain", "providers"} <= rooms


def test_every_file_and_function_named_exists() -> None:
    missing = []
    for path, name in _references():
        module = importlib.import_module("clarion." + path.replace("/", "."))
        target: object = module
        for part in name.split("."):
            target = getattr(target, part, None)
            if target is None:
                missing.append(f"{path}.py: {name}")
                break
    assert not missing, missing
