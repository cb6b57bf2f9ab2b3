"""Reading a dialect's request: one JSON-object reader, pydantic models, field renames."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from clarion.api.dialects.kit.problems import Dialect, Kind, Problem
from clarion.domain.errors import MISSING_PARAMETER, domain_error_from_validation
from clarion.domain.safe_input import UnsafeInput, loads_checked

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_json_object(raw: bytes, dialect: Dialect) -> dict[str, Any]:
    """The JSON object of a body, through the safe-input checks.

    UNREADABLE when it is not JSON or not an object; INVALID naming the path of a
    value no database or provider could carry (NUL, lone surrogate, depth, number).
    """
    wording = dialect.wording
    try:
        document = loads_checked(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Problem(Kind.UNREADABLE, wording.not_json) from None
    except UnsafeInput as exc:
        raise Problem(Kind.INVALID, exc.message, exc.field or wording.body_field) from None
    if not isinstance(document, dict):
        raise Problem(Kind.UNREADABLE, wording.not_object)
    return document


async def json_object(request: Request, dialect: Dialect) -> dict[str, Any]:
    """The request's body read by `read_json_object`."""
    return read_json_object(await request.body(), dialect)


def parse_model(model: type[ModelT], document: dict[str, Any]) -> ModelT:
    """Validate a document whose field names are the dialect's; its first error is a problem."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = domain_error_from_validation(exc)
        kind = Kind.MISSING if error.code == MISSING_PARAMETER else Kind.INVALID
        raise Problem(kind, error.message, error.field) from None


def rename_field(
    native: str, names: Iterable[tuple[str, str]], *, keep_rest: bool = True
) -> str | None:
    """The dialect's name of a native field path, or None when no prefix of `names` matches.

    `names` pairs native prefixes with the dialect's names, most specific first; with
    `keep_rest` what follows the prefix (`.title`, `[2]`) is kept after the new name.
    """
    for prefix, name in names:
        if native == prefix or native.startswith((prefix + ".", prefix + "[")):
            return name + native[len(prefix) :] if keep_rest else name
    return None
