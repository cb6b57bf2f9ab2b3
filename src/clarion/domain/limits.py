"""Provider payload limits, the size check, and UTF-8-safe body truncation on request.

Limits (bytes of the part each provider measures):
- APNs: 4096 for the JSON payload, 5120 for VoIP pushes.
- FCM HTTP v1: 4096 for the message payload (`notification` plus `data`).
- Web Push: push services must accept 4096 bytes of encrypted body (RFC 8030 §7.2).
  With aes128gcm (RFC 8188) as profiled by RFC 8291 that body is one record:
  a header of salt (16) + record size (4) + key id length (1) + key id = the
  sender's uncompressed P-256 public key (65) = 86 bytes, then the plaintext, a
  padding delimiter byte (0x02) and the AES-GCM tag (16). So the usable plaintext
  is 4096 - 86 - 1 - 16 = 3993 bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from clarion.domain.errors import PAYLOAD_TOO_LARGE, DomainError
from clarion.domain.message import Content
from clarion.domain.vocabulary import Provider

APNS_PAYLOAD_LIMIT: Final = 4_096
APNS_VOIP_PAYLOAD_LIMIT: Final = 5_120
FCM_PAYLOAD_LIMIT: Final = 4_096

WEBPUSH_RECORD_LIMIT: Final = 4_096
AES128GCM_HEADER_BYTES: Final = 16 + 4 + 1 + 65  # salt, rs, idlen, keyid (P-256 point)
AES128GCM_TAG_BYTES: Final = 16
AES128GCM_DELIMITER_BYTES: Final = 1
WEBPUSH_PLAINTEXT_LIMIT: Final = (
    WEBPUSH_RECORD_LIMIT - AES128GCM_HEADER_BYTES - AES128GCM_DELIMITER_BYTES - AES128GCM_TAG_BYTES
)

ELLIPSIS: Final = "\u2026"

_JOINERS: Final = frozenset({"\u200d", "\u034f"})  # zero width joiner, grapheme joiner


@dataclass(frozen=True)
class BuiltPayload:
    """A provider request ready to send: headers, serialized body and the sizes that matter.

    `size` is len(body); `limited_size` is the part the provider limits, `limit` its cap.
    """

    platform: Provider
    headers: dict[str, str]
    body: bytes
    limited_size: int
    limit: int
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.body))

    def fits(self) -> bool:
        """True when the provider would accept this size."""
        return self.limited_size <= self.limit


_Payload = TypeVar("_Payload", bound=BuiltPayload)
_Content = TypeVar("_Content", bound=Content)


def too_large(payload: BuiltPayload, field_path: str | None = "content") -> DomainError:
    """The PAYLOAD_TOO_LARGE error naming the platform, the size and the limit."""
    return DomainError(
        PAYLOAD_TOO_LARGE,
        f"the {payload.platform} payload is {payload.limited_size} bytes, "
        f"over the {payload.limit}-byte limit",
        field_path,
    )


def check_size(payload: BuiltPayload, field_path: str | None = "content") -> None:
    """Refuse a payload over its provider limit with PAYLOAD_TOO_LARGE naming platform and size."""
    if not payload.fits():
        raise too_large(payload, field_path)


def _extends_previous(char: str) -> bool:
    """True when `char` belongs to the grapheme of the character before it."""
    if char in _JOINERS or unicodedata.combining(char):
        return True
    code = ord(char)
    return (
        0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
        or 0xDC00 <= code <= 0xDFFF  # low surrogate
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def safe_cut(text: str, keep: int) -> int:
    """The largest cut index <= keep that does not split a grapheme cluster.

    Python strings hold code points, so a UTF-8 sequence is never split; this also
    keeps combining marks, joiners, variation selectors, skin tones, surrogate pairs
    and flag pairs with their base character.
    """
    cut = max(0, min(keep, len(text)))
    while 0 < cut < len(text):
        if _extends_previous(text[cut]) or text[cut - 1] in _JOINERS:
            cut -= 1
            continue
        if "\ud800" <= text[cut - 1] <= "\udbff":
            cut -= 1
            continue
        if _is_regional_indicator(text[cut]) and _is_regional_indicator(text[cut - 1]):
            run = 0
            while cut - 1 - run >= 0 and _is_regional_indicator(text[cut - 1 - run]):
                run += 1
            if run % 2 == 1:  # an odd run means text[cut - 1] starts a flag pair
                cut -= 1
                continue
        break
    return cut


def shorten(text: str, keep: int) -> str:
    """The first `keep` code points (grapheme-safe, trailing spaces removed) plus an ellipsis."""
    return text[: safe_cut(text, keep)].rstrip() + ELLIPSIS


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Shorten `text` to at most `max_bytes` of UTF-8, ending with an ellipsis when cut."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    if room < 0:
        return ""
    keep = len(encoded[:room].decode("utf-8", "ignore"))
    return shorten(text, keep)


def fit_body(content: _Content, build: Callable[[_Content], _Payload]) -> tuple[_Content, _Payload]:
    """Build the payload, shortening only the body (with an ellipsis) if it is over the limit.

    Keeps the longest body prefix that fits, found by bisection over code points.
    Raises PAYLOAD_TOO_LARGE when even an ellipsis-only body does not fit.
    """
    payload = build(content)
    if payload.fits():
        return content, payload
    body = content.body or ""
    best: tuple[_Content, _Payload] | None = None
    low, high = 0, len(body) - 1
    while low <= high and body:
        middle = (low + high) // 2
        candidate = content.model_copy(update={"body": shorten(body, middle)})
        attempt = build(candidate)
        if attempt.fits():
            best = (candidate, attempt)
            low = middle + 1
        else:
            high = middle - 1
    if best is None:
        raise too_large(payload)
    return best
