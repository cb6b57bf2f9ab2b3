"""Text from anywhere (exception messages, provider answers) made fit for a database column."""

from __future__ import annotations


def storable(text: str, limit: int | None = None) -> str:
    """`text` with NUL characters and lone surrogates escaped, clipped to `limit` characters.

    PostgreSQL refuses NUL in text and no UTF-8 encoder takes a lone surrogate: either
    would make the write that records a failure fail in turn.
    """
    cleaned = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return cleaned[:limit] if limit is not None else cleaned


def describe(exc: BaseException, limit: int | None = None) -> str:
    """An exception as `Class: message` (just `Class` without a message), storable."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not hide the failure it describes
        message = ""
    return storable(f"{name}: {message}" if message else name, limit)
