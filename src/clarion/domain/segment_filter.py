"""The segment filter language: which installations a segment or audience filter selects.

A filter is a JSON object whose conditions all have to hold (see docs/broadcasts.md):
platforms, apps, languages (prefix match), timezones, tags (any/all/none),
contact_attributes / installation_attributes (equality), last_engaged (before, after,
within_days), has_email, has_phone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

import langcodes
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from clarion.domain.errors import DomainError, FieldProblem, domain_error_from_validation
from clarion.domain.safe_input import Int
from clarion.domain.vocabulary import ErrorCode

_ZONES = frozenset(available_timezones()) | {"UTC"}
Platform = Literal["ios", "android", "web", "huawei"]
AttributeValue = str | bool | int | float
_Values = Annotated[list[str], Field(min_length=1, max_length=100)]
_Attributes = Annotated[dict[str, Any], Field(min_length=1, max_length=50)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagCondition(_Strict):
    """Installation tags: any of, all of, none of."""

    any: _Values | None = None
    all: _Values | None = None
    none: _Values | None = None


class EngagementCondition(_Strict):
    """Last engagement of the installation: before, after, or within the last N days."""

    before: datetime | None = None
    after: datetime | None = None
    within_days: Annotated[Int, Field(ge=1, le=3650)] | None = None

    @field_validator("before", "after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise FieldProblem(
                ErrorCode.MALFORMED_PARAMETER, "needs a UTC offset, e.g. 2026-01-01T00:00Z"
            )
        return value


class SegmentFilter(_Strict):
    """Conditions over installations and their contacts; every given one must hold."""

    platforms: Annotated[list[Platform], Field(min_length=1)] | None = None
    apps: _Values | None = None
    languages: _Values | None = None
    timezones: _Values | None = None
    tags: TagCondition | None = None
    contact_attributes: _Attributes | None = None
    installation_attributes: _Attributes | None = None
    last_engaged: EngagementCondition | None = None
    has_email: StrictBool | None = None
    has_phone: StrictBool | None = None

    @field_validator("contact_attributes", "installation_attributes")
    @classmethod
    def _scalars(cls, values: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, value in (values or {}).items():
            if not key or len(key) > 128 or '"' in key or "\\" in key:
                raise FieldProblem(
                    ErrorCode.MALFORMED_PARAMETER,
                    'an attribute name is 1-128 characters without " or \\',
                    key,
                )
            if not isinstance(value, str | bool | int | float):
                raise FieldProblem(
                    ErrorCode.MALFORMED_PARAMETER,
                    "an attribute is matched by a string, number or boolean",
                    key,
                )
        return values

    @field_validator("languages")
    @classmethod
    def _languages(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        out = []
        for index, value in enumerate(values):
            if not langcodes.tag_is_valid(value):
                raise FieldProblem(
                    ErrorCode.MALFORMED_PARAMETER, f"{value!r} is not a language tag", f"[{index}]"
                )
            out.append(str(langcodes.standardize_tag(value)).lower())
        return out

    @field_validator("timezones")
    @classmethod
    def _timezones(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        for index, value in enumerate(values):
            if value not in _ZONES:
                raise FieldProblem(
                    ErrorCode.MALFORMED_PARAMETER,
                    f"{value!r} is not an IANA time zone",
                    f"[{index}]",
                )
        return values


def parse_filter(data: Any, field: str = "filter") -> SegmentFilter:
    """Validate a filter document; errors name the field, e.g. filter.tags.any[2]."""
    if not isinstance(data, dict):
        raise DomainError(ErrorCode.MALFORMED_PARAMETER, "a filter is a JSON object", field)
    try:
        return SegmentFilter.model_validate(data)
    except ValidationError as exc:
        raise domain_error_from_validation(exc, field) from None
