"""Push message definitions: every documented field, its per-type required fields, the echo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
)

from clarion.domain.errors import domain_error_from_validation
from clarion.domain.safe_input import Int
from clarion.domain.throttle import MAX_MESSAGES, MAX_PER_MINUTES

OUTBOUND: Final = 1
LOCATION_ENTRY: Final = 3
LOCATION_EXIT: Final = 4
BEACON: Final = 5
INBOX: Final = 8
ALERT: Final = 1
INBOX_ONLY: Final = 2
INBOX_ALERT: Final = 3
ACTIVE: Final = 2
LOCATION_TYPES = (LOCATION_ENTRY, LOCATION_EXIT, BEACON)
#: Fields the platform allows only on UI-initiated (sendInitiator 0) outbound and inbox sends.
UI_ONLY_FIELDS = (
    "messagesPerPeriod",
    "minutesPerPeriod",
    "tzBased",
    "inclusionLists",
    "exclusionLists",
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=256)]
HttpUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://\S+$")
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Application(_Model):
    """The Clarion app the message is sent with (id) and its display name."""

    id: Ref
    name: Name


class KeyValue(_Model):
    """A custom key sent with the message."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    value: JsonValue = None


class IdRef(_Model):
    """A list, data extension or geofence, by id."""

    id: Ref


class MessageMedia(_Model):
    """Rich media per platform and the text shown when it cannot be."""

    androidUrl: HttpUrl | None = None
    iosUrl: HttpUrl | None = None
    alt: Annotated[str, StringConstraints(max_length=1024)] | None = None


class Definition(_Model):
    """A push message definition as POST /push/v1/message takes it."""

    messageType: Literal[1, 3, 4, 5, 8] = OUTBOUND
    contentType: Literal[1, 2, 3] = ALERT
    name: Name
    application: Application
    alert: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    sound: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    badge: Int | Annotated[str, StringConstraints(pattern=r"^\+?\d{1,9}$")] | None = None
    content_available: Literal[0, 1] | None = Field(None, alias="content-available")
    openDirect: Annotated[str, StringConstraints(min_length=1, max_length=15)] | None = None
    keys: list[KeyValue] | None = None
    custom: dict[str, JsonValue] | None = None
    sendInitiator: Literal[0, 1, 2, 3] = 1
    startDate: datetime
    endDate: datetime | None = None
    messagesPerPeriod: Annotated[Int, Field(ge=1, le=MAX_MESSAGES)] | None = None
    minutesPerPeriod: Annotated[Int, Field(ge=1, le=MAX_PER_MINUTES)] | None = None
    numberOfPeriods: Annotated[Int, Field(ge=1)] | None = None
    periodType: Literal[1, 2, 3, 4, 5] | None = None
    isRollingPeriod: bool | None = None
    messageLimit: Annotated[Int, Field(ge=1)] | None = None
    title: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    subtitle: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    mutable_content: bool | None = Field(None, alias="mutable-content")
    tzBased: bool | None = None
    tzPastSendAction: Literal[0, 1, 2, 3] | None = None
    scheduledTzOffset: Annotated[float, Field(ge=-12, le=14)] | None = Field(
        None, validation_alias=AliasChoices("scheduledTzOffset", "scheduleTzOffset")
    )
    scheduledTzSupportsDst: bool | None = None
    inclusionLists: list[IdRef] | None = None
    exclusionLists: list[IdRef] | None = None
    inclusionDataExtensions: list[IdRef] | None = None
    exclusionDataExtensions: list[IdRef] | None = None
    status: Literal[1, 2, 3, 4] = ACTIVE
    pageId: Int | None = None
    url: HttpUrl | None = None
    subject: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    media: MessageMedia | None = None
    geofences: list[IdRef] | None = None

    @field_validator("tzPastSendAction", mode="before")
    @classmethod
    def _numeric_string(cls, value: Any) -> Any:
        # The platform documents this field as a string of digits and shows it as a number.
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    @field_validator("startDate", "endDate")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a date needs a time zone, e.g. 2014-04-30T14:50:00Z")
        return value

    def is_location(self) -> bool:
        """Location entry/exit and beacon messages are shown by the device itself."""
        return self.messageType in LOCATION_TYPES

    def has_page(self) -> bool:
        """Inbox and alert+page messages carry a page (pageId, url)."""
        return self.contentType in (INBOX_ONLY, INBOX_ALERT) or self.messageType == INBOX

    def problems(self) -> list[str]:
        """Every per-type rule the definition breaks, as the platform's error lines."""
        found: list[str] = []

        def require(*names: str) -> None:
            for name in names:
                value = getattr(self, name)
                if value is None or value == "" or value == []:
                    found.append(f"{name} is required for this messageType and contentType.")

        if self.is_location():
            require("alert", "geofences")
            if self.contentType == INBOX_ALERT:
                require("pageId", "url")
        elif self.contentType == INBOX_ALERT:
            require("alert", "pageId", "url", "subject")
        elif self.has_page():
            require("pageId", "url", "subject")
        if self.endDate is not None and self.endDate <= self.startDate:
            found.append("endDate must be after startDate.")
        if not self.is_location() and self.sendInitiator != 0:
            for name in UI_ONLY_FIELDS:
                if getattr(self, name) is not None:
                    found.append(f"{name} can only be used when sendInitiator is 0.")
        if (self.messagesPerPeriod is None) != (self.minutesPerPeriod is None):
            found.append("messagesPerPeriod and minutesPerPeriod must be given together.")
        return found

    def echo(self) -> dict[str, Any]:
        """The stored form: given fields plus the type defaults, without inapplicable ones."""
        out = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for name in ("messageType", "contentType", "sendInitiator", "status"):
            out[name] = getattr(self, name)
        if not self.is_location():
            out.pop("geofences", None)
        if not self.has_page() and not (self.is_location() and self.contentType == INBOX_ALERT):
            for name in ("pageId", "url", "subject", "endDate"):
                out.pop(name, None)
        return out


def validation_lines(exc: ValidationError) -> list[str]:
    """Every pydantic error as one `field: message` line."""
    lines = []
    for error in exc.errors(include_url=False):
        single = ValidationError.from_exception_data(exc.title, [error])  # type: ignore[list-item]
        problem = domain_error_from_validation(single)
        if error["type"] == "missing":
            lines.append(f"{problem.field} is required.")
        else:
            lines.append(
                f"{problem.field}: {problem.message}" if problem.field else problem.message
            )
    return lines


def parse_definition(document: dict[str, Any]) -> tuple[Definition | None, list[str]]:
    """The validated definition, or None and every problem found."""
    if isinstance(document.get("application"), list) and len(document["application"]) == 1:
        # Documented as an array, shown as an object: one application either way.
        document = {**document, "application": document["application"][0]}
    try:
        definition = Definition.model_validate(document)
    except ValidationError as exc:
        return None, validation_lines(exc)
    problems = definition.problems()
    return (None, problems) if problems else (definition, [])
