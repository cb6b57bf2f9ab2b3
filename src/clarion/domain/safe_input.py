"""What no database, provider or HTTP header can carry, refused before anything is stored.

One reader for every JSON body (native and dialects) and a text check for values that
arrive another way (path and query parameters, CSV cells, XML text). A refusal names
the path of the offending value, e.g. `contents[1].data.deep`.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, Field

from clarion.domain.errors import MALFORMED_PARAMETER, DomainError

#: Containers nested deeper than this are refused: no message or attribute needs more,
#: and deeper documents exhaust recursion in encoders and drivers later on.
MAX_JSON_DEPTH: Final = 32
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# Longest decimal spelling of a 64-bit integer, sign included.
_MAX_INT_DIGITS: Final = 20


class UnsafeInput(DomainError):
    """A value that cannot be stored or delivered; `field` is its path in the request."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(MALFORMED_PARAMETER, message, field)


class _Refused(Exception):
    """Raised while walking a document; the path is collected on the way back up."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str | int] = []


class _Unrepresentable:
    """A number the JSON reader kept as text because no 64-bit or finite value holds it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored or sent (NUL, lone surrogate), or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"must not contain a lone surrogate (U+{ord(value[exc.start]):04X})"
    return None


def check_text(value: str, field: str | None) -> str:
    """Return `value`, or raise UnsafeInput naming `field`."""
    problem = text_problem(value)
    if problem is not None:
        raise UnsafeInput(f"{field or 'value'} {problem}", field)
    return value


def _parse_int(text: str) -> int | _Unrepresentable:
    if len(text) > _MAX_INT_DIGITS:
        return _Unrepresentable(text)
    number = int(text)
    if not INT64_MIN <= number <= INT64_MAX:
        return _Unrepresentable(text)
    return number


def _parse_float(text: str) -> float | _Unrepresentable:
    number = float(text)
    return number if math.isfinite(number) else _Unrepresentable(text)


def _parse_constant(text: str) -> _Unrepresentable:
    # NaN, Infinity and -Infinity are not JSON; json.loads would accept them.
    return _Unrepresentable(text)


def _refused_at(key: str | int, message: str) -> _Refused:
    refused = _Refused(message)
    refused.path.append(key)
    return refused


def _check(container: dict[str, Any] | list[Any], depth: int, strings: bool) -> None:
    # Leaves are checked by their container, so that a list of 10,000 tokens costs no
    # function call per token; `strings` is False when no string can hold NUL or a surrogate.
    if depth >= MAX_JSON_DEPTH:
        raise _Refused(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    items = container.items() if type(container) is dict else enumerate(container)
    for key, item in items:
        if strings and type(key) is str:
            problem = text_problem(key)
            if problem is not None:
                raise _Refused(f"has a key that {problem}")
        kind = type(item)
        if kind is str:
            if strings:
                problem = text_problem(item)
                if problem is not None:
                    raise _refused_at(key, problem)
        elif kind is dict or kind is list:
            try:
                _check(item, depth + 1, strings)
            except _Refused as refused:
                refused.path.append(key)
                raise
        elif kind is _Unrepresentable:
            raise _refused_at(key, _number_problem(item))


def _number_problem(value: _Unrepresentable) -> str:
    return f"is not a finite number within 64 bits ({value.text[:30]})"


def _check_value(value: Any, strings: bool) -> None:
    kind = type(value)
    if kind is dict or kind is list:
        _check(value, 0, strings)
    elif kind is str and strings:
        problem = text_problem(value)
        if problem is not None:
            raise _Refused(problem)
    elif kind is _Unrepresentable:
        raise _Refused(_number_problem(value))


def _dotted(parts: list[str | int]) -> str | None:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or None


def check_document(document: Any, field: str | None = None) -> Any:
    """Return an already parsed JSON document, or raise UnsafeInput at its first bad value."""
    return _checked(document, field, strings=True)


def _checked(document: Any, field: str | None, strings: bool) -> Any:
    try:
        _check_value(document, strings)
    except _Refused as refused:
        parts: list[str | int] = [field] if field else []
        parts.extend(reversed(refused.path))
        path = _dotted(parts)
        raise UnsafeInput(f"{path or 'the body'} {refused.message}", path) from None
    return document


def loads_checked(raw: str | bytes, field: str | None = None) -> Any:
    """Parse JSON refusing NaN/Infinity, numbers beyond 64 bits or float range, nesting
    deeper than MAX_JSON_DEPTH, NUL characters and lone surrogates.

    Syntax errors raise json.JSONDecodeError (or UnicodeDecodeError) as json.loads does.
    """
    # Bytes decoded strictly (json.loads would let UTF-8-encoded surrogates through) can
    # only bring NUL or a lone surrogate as a backslash-u escape: without one, and for an
    # ASCII text, strings need no check, which keeps large bodies fast.
    if isinstance(raw, bytes):
        text = raw.decode(json.detect_encoding(raw))
        strings = "\\u" in text
    else:
        text = raw
        strings = "\\u" in text or not text.isascii()
    try:
        if text.startswith("\ufeff"):
            # As json.loads refuses it.
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        document = _decoder().decode(text)
    except RecursionError:
        raise UnsafeInput(
            f"{field or 'the body'} is nested deeper than {MAX_JSON_DEPTH} levels", field
        ) from None
    return _checked(document, field, strings)


@functools.cache
def _decoder() -> json.JSONDecoder:
    """The checking decoder, made once (json.loads makes one per call given hooks)."""
    return json.JSONDecoder(
        parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
    )


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode would read true as 1 and false as 0.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def has_control_or_space(value: str) -> bool:
    """True when `value` holds a space or an ASCII control character (CR, LF, tab, DEL...)."""
    return any(char <= " " or char == "\x7f" for char in value)


def _header_value(value: str) -> str:
    if not all(" " <= char <= "~" for char in value):
        raise ValueError("must be printable ASCII (it is sent as an HTTP header)")
    return value


#: An integer field: booleans refused, 64-bit range (narrow it further with Field).
Int = Annotated[int, BeforeValidator(_no_bool), Field(ge=INT64_MIN, le=INT64_MAX)]
#: A string that becomes an HTTP header value: printable ASCII, no CR/LF.
HeaderValue = Annotated[str, AfterValidator(_header_value)]
