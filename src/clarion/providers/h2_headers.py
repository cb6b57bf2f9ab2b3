"""Check caller-supplied request headers against HTTP/2 rules before HPACK touches them.

h2 validates lazily while encoding, so a bad header found half-way leaves the
HPACK tables of the two peers out of step and poisons the whole connection.
"""

from __future__ import annotations

import re

from clarion.providers.h2_errors import InvalidRequestError

# RFC 9113 section 8.2.2: connection-specific fields are forbidden in HTTP/2.
_CONNECTION_SPECIFIC = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)
# Fields the transport itself sets.
_RESERVED = frozenset({"content-length", "host"})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
_FORBIDDEN_VALUE_CHARACTERS = re.compile(r"[\x00\r\n]")


class CleanHeaders(list[tuple[bytes, bytes]]):
    """Headers `clean_headers` has already checked: a sender reusing them skips the check."""


def clean_headers(headers: list[tuple[str, str]] | CleanHeaders) -> CleanHeaders:
    """Lower-cased, trimmed, encoded headers; raises InvalidRequestError on any rule broken."""
    if isinstance(headers, CleanHeaders):
        return headers
    cleaned = CleanHeaders()
    for raw_name, raw_value in headers:
        name = raw_name.strip().lower()
        value = raw_value.strip()
        if not _TOKEN.match(name):
            raise InvalidRequestError(f"invalid header name {raw_name!r}")
        if name in _CONNECTION_SPECIFIC or name in _RESERVED:
            raise InvalidRequestError(f"header {name!r} is not allowed here")
        if _FORBIDDEN_VALUE_CHARACTERS.search(value):
            raise InvalidRequestError(f"header {name!r} has a forbidden character")
        try:
            cleaned.append((name.encode("ascii"), value.encode("latin-1")))
        except UnicodeEncodeError as error:
            raise InvalidRequestError(f"header {name!r} is not Latin-1 text") from error
    return cleaned
