"""Hostile values and the walk that plants them in every text field of a request body."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

#: Strings no database or provider can carry: a NUL character and a lone surrogate.
HOSTILE_TEXTS = ("a\x00b", "a\ud800b")

Part = str | int


def dotted(parts: tuple[Part, ...]) -> str:
    """The error-field spelling of a path: names dotted, indexes in brackets."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def text_leaves(document: Any, parts: tuple[Part, ...] = ()) -> Iterator[tuple[Part, ...]]:
    """The path of every string value of a JSON document."""
    if isinstance(document, str):
        yield parts
    elif isinstance(document, dict):
        for key, value in document.items():
            yield from text_leaves(value, (*parts, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from text_leaves(value, (*parts, index))


def replaced(document: Any, parts: tuple[Part, ...], value: Any) -> Any:
    """A deep copy of `document` with the value at `parts` replaced."""
    result = copy.deepcopy(document)
    target = result
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value
    return result


def with_key(document: Any, parts: tuple[Part, ...], key: str) -> Any:
    """A deep copy of `document` whose object at `parts` gains the key `key`."""
    result = copy.deepcopy(document)
    target = result
    for part in parts:
        target = target[part]
    target[key] = "x"
    return result


def nested(depth: int) -> Any:
    """An object nested `depth` levels deep."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def poisoned_bodies(body: Any) -> Iterator[tuple[str, Any]]:
    """(expected field, body) for each hostile text in each string value of `body`."""
    for parts in text_leaves(body):
        for text in HOSTILE_TEXTS:
            yield dotted(parts), replaced(body, parts, text)


def encoded(body: Any) -> bytes:
    """JSON with non-ASCII escaped, so that lone surrogates travel as \\ud800 escapes."""
    return json.dumps(body).encode()


JSON = {"content-type": "application/json"}
