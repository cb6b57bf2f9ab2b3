"""Reusable field types of the native API with their validation rules."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import langcodes
import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from clarion.domain.safe_input import Int, has_control_or_space

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TIMEZONES = frozenset(available_timezones())


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting alphanumeric"
        )
    return value


def _timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Paris")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


def _language(value: str) -> str:
    if not value or not langcodes.tag_is_valid(value):
        raise ValueError(f"{value!r} is not a BCP 47 language tag such as en or pt-BR")
    return str(langcodes.standardize_tag(value))


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not an E.164 phone number such as +33612345678") from exc
    if not value.startswith("+") or not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid E.164 phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or " " in value or len(value) > 320:
        raise ValueError(f"{value!r} is not an email address")
    return local + "@" + domain.lower()


def b64url_decode(value: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


Slug = Annotated[str, AfterValidator(_slug)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Language = Annotated[str, AfterValidator(_language)]
PhoneNumber = Annotated[str, AfterValidator(_e164)]
Email = Annotated[str, AfterValidator(_email)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Attributes = Annotated[dict[str, Any], Field(max_length=200)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields so typos surface as errors."""

    model_config = ConfigDict(extra="forbid")


def _p256dh(value: str) -> str:
    try:
        public = b64url_decode(value)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64url") from exc
    if len(public) != 65 or public[0] != 4:
        raise ValueError("must be an uncompressed P-256 public key (65 bytes, base64url)")
    return value


def _auth_secret(value: str) -> str:
    try:
        secret = b64url_decode(value)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64url") from exc
    if len(secret) != 16:
        raise ValueError("must be a 16-byte authentication secret (base64url)")
    return value


class SubscriptionKeys(StrictModel):
    """Browser keys of a web push subscription (RFC 8291 needs exactly these sizes)."""

    p256dh: Annotated[str, StringConstraints(max_length=200), AfterValidator(_p256dh)]
    auth: Annotated[str, StringConstraints(max_length=100), AfterValidator(_auth_secret)]


def _push_endpoint(value: str) -> str:
    if has_control_or_space(value):
        raise ValueError("endpoint cannot hold spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("endpoint must be an https URL")
    return value


class WebPushSubscription(StrictModel):
    """A web push subscription as a browser's PushManager gives it."""

    endpoint: Annotated[str, StringConstraints(max_length=2048), AfterValidator(_push_endpoint)]
    keys: SubscriptionKeys
    expirationTime: Int | None = None
