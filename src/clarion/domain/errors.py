"""Domain errors: a code, a human message and the dotted path of the field at fault."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic import ValidationError

from clarion.domain.vocabulary import ErrorCode

MISSING_PARAMETER: Final = ErrorCode.MISSING_PARAMETER
MALFORMED_PARAMETER: Final = ErrorCode.MALFORMED_PARAMETER
PAYLOAD_TOO_LARGE: Final = ErrorCode.PAYLOAD_TOO_LARGE
RENDER_FAILED: Final = ErrorCode.RENDER_FAILED


class DomainError(Exception):
    """A rule of the domain was broken; `field` is a path such as "contents[2].language"."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r}, {self.field!r})"


class FieldProblem(ValueError):
    """Raised inside pydantic validators; `subpath` is relative to the validated location.

    It subclasses ValueError so that pydantic collects it with its location, and
    `domain_error_from_validation` joins both into one precise dotted path.
    """

    def __init__(self, code: str, message: str, subpath: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subpath = subpath


def join_path(*parts: str | int | None) -> str | None:
    """Join path parts: names are dotted, integers become [i], "[i]" strings stick to the left."""
    path = ""
    for part in parts:
        if part is None or part == "":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("[") or not path:
            path += part
        else:
            path += f".{part}"
    return path or None


def _location_parts(location: Sequence[int | str]) -> list[int | str]:
    # pydantic names validator and union branches in the location; they are not fields.
    return [
        part
        for part in location
        if isinstance(part, int) or not (part.startswith("function-") or "[" in part)
    ]


def domain_error_from_validation(exc: ValidationError, prefix: str | None = None) -> DomainError:
    """Translate the first pydantic error into a DomainError with a full dotted field path."""
    first = exc.errors(include_url=False)[0]
    parts: list[str | int | None] = [prefix, *_location_parts(first["loc"])]
    problem = (first.get("ctx") or {}).get("error")
    if isinstance(problem, FieldProblem):
        parts.append(problem.subpath)
        return DomainError(problem.code, problem.message, join_path(*parts))
    code = MISSING_PARAMETER if first["type"] == "missing" else MALFORMED_PARAMETER
    field = join_path(*parts)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = f"{field} is required"
    return DomainError(code, message, field)
