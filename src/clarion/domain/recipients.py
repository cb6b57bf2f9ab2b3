"""Who a transactional send targets: tokens, installations, contacts, emails, advertising ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from clarion.domain.errors import (
    MALFORMED_PARAMETER,
    MISSING_PARAMETER,
    DomainError,
    FieldProblem,
    domain_error_from_validation,
)
from clarion.domain.vocabulary import Provider

MAX_RECIPIENTS: Final = 10_000
MAX_ID_CHARS: Final = 256
MAX_TOKEN_CHARS: Final = 4_096
MAX_EMAIL_CHARS: Final = 254  # RFC 5321 path limit

_APNS_TOKEN = re.compile(r"^(?:[0-9a-fA-F]{2}){32,100}$")
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"

RecipientList = Annotated[tuple[str, ...], Field(max_length=MAX_RECIPIENTS)]


def normalize_token(token: str, platform: Provider | None) -> str:
    """Check a push token for its platform and return its canonical form.

    APNs tokens are hex (32 to 100 bytes, lower-cased so duplicates collapse), FCM
    tokens visible ASCII, Web Push tokens the subscription's https endpoint. With no
    known platform a token only has to be visible ASCII of bounded length.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise ValueError(f"a token is 1 to {MAX_TOKEN_CHARS} characters")
    if platform == Provider.APNS:
        if not _APNS_TOKEN.match(token):
            raise ValueError("an APNs token is an even number (64 to 200) of hex digits")
        return token.lower()
    if platform == Provider.WEBPUSH and not token.startswith("https://"):
        raise ValueError("a Web Push token is the subscription's https endpoint")
    if not _VISIBLE_ASCII.match(token):
        raise ValueError("a token is visible ASCII without spaces")
    return token


def normalize_identifier(value: str) -> str:
    """Installation and external ids: non-blank, bounded, kept exactly (case-sensitive)."""
    if not value.strip() or len(value) > MAX_ID_CHARS:
        raise ValueError(f"an id is 1 to {MAX_ID_CHARS} characters and not blank")
    return value


def normalize_email(value: str) -> str:
    """An address with one @ and a dotted domain; the domain is lower-cased."""
    value = value.strip()
    if len(value) > MAX_EMAIL_CHARS or not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def normalize_advertising_id(value: str) -> str:
    """IDFA or GAID: a UUID, not the all-zero one (tracking refused); kept in lower case."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an advertising id (UUID)") from None
    if str(parsed) == _ZERO_UUID:
        raise ValueError("the all-zero advertising id means tracking is refused")
    return str(parsed)


def _unique(values: tuple[str, ...], normalize: Callable[[str], str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for index, value in enumerate(values):
        try:
            seen.setdefault(normalize(value), None)
        except ValueError as exc:
            raise FieldProblem(MALFORMED_PARAMETER, str(exc), f"[{index}]") from None
    return tuple(seen)


class Recipients(BaseModel):
    """Validated, deduplicated recipients; at most 10,000 in total.

    Pass `context={"platform": "apns"}` to `model_validate` (or use `parse_recipients`)
    to check tokens against one platform's format.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: RecipientList = ()
    installation_ids: RecipientList = ()
    external_ids: RecipientList = ()
    emails: RecipientList = ()
    advertising_ids: RecipientList = ()
    all_devices: bool = False

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        platform = info.context.get("platform") if isinstance(info.context, Mapping) else None
        return _unique(values, lambda token: normalize_token(token, platform))

    @field_validator("installation_ids", "external_ids")
    @classmethod
    def _ids(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(values, normalize_identifier)

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(values, normalize_email)

    @field_validator("advertising_ids")
    @classmethod
    def _advertising_ids(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(values, normalize_advertising_id)

    @model_validator(mode="after")
    def _within_bounds(self) -> Recipients:
        total = self.total()
        if total == 0:
            raise FieldProblem(MISSING_PARAMETER, "at least one recipient is required")
        if total > MAX_RECIPIENTS:
            raise FieldProblem(
                MALFORMED_PARAMETER,
                f"{total} recipients given, at most {MAX_RECIPIENTS} are allowed",
            )
        return self

    def total(self) -> int:
        """Number of distinct recipients over all lists."""
        return (
            len(self.tokens)
            + len(self.installation_ids)
            + len(self.external_ids)
            + len(self.emails)
            + len(self.advertising_ids)
        )


def parse_recipients(
    data: Any, platform: Provider | None = None, prefix: str = "recipients"
) -> Recipients:
    """Validate raw recipients; errors name the field with its index, e.g. recipients.tokens[3]."""
    try:
        return Recipients.model_validate(data, context={"platform": platform})
    except ValidationError as exc:
        raise domain_error_from_validation(exc, prefix) from None


__all__ = ["MAX_RECIPIENTS", "DomainError", "Recipients", "parse_recipients"]
