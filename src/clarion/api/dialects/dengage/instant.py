"""SendInstantPush: the request model, its validation, and the native broadcast it becomes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from clarion.api.dialects.dengage.errors import from_domain, validation_error
from clarion.domain.command import check_message
from clarion.domain.errors import DomainError
from clarion.domain.message import Message, parse_message
from clarion.domain.safe_input import Int

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(max_length=16_384)]
#: A Clarion segment (`seg_...`) or list (`lst_...`) id; the core's ids are at most 40 long.
AudienceId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstantContent(_Strict):
    """Push content: either only `templateId`, or the texts and links themselves."""

    templateId: Id | None = None
    title: Text | None = None
    subtitle: Text | None = None
    message: Text | None = None
    mediaUrl: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    targetUrl: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    sound: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    badgeCount: Annotated[Int, Field(ge=0, le=2_147_483_647)] | None = None
    androidChannelId: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    customData: dict[str, JsonValue] = Field(default_factory=dict)

    def has_own_fields(self) -> bool:
        """True when anything besides templateId is set."""
        return bool(self.model_dump(exclude={"templateId"}, exclude_defaults=True))

    def native(self, language: str | None = None) -> dict[str, Any]:
        """The native content (localized when `language` is given)."""
        content: dict[str, Any] = {
            "title": self.title,
            "subtitle": self.subtitle,
            "body": self.message,
            "sound": self.sound,
            "badge": self.badgeCount,
            "deeplink": self.targetUrl,
            "data": dict(self.customData),
        }
        if self.mediaUrl is not None:
            content["media"] = {"picture": self.mediaUrl}
        if language is not None:
            content["language"] = language
        return {key: value for key, value in content.items() if value is not None}


class MultiLangContent(_Strict):
    """Contents per language; the default language's content is the fallback."""

    defaultLanguage: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    contents: dict[str, InstantContent]


class InstantPush(_Strict):
    """The SendInstantPush body, field names as the platform spells them."""

    applicationIds: list[Id] = Field(default_factory=list)
    content: InstantContent | None = None
    multiLangContent: MultiLangContent | None = None
    scheduleDate: datetime | None = None
    segmentId: AudienceId | None = None
    tableId: AudienceId | None = None
    trackingId: uuid.UUID | None = None
    sendOnlyLastEngagedTokens: bool = False

    def check_shape(self) -> None:
        """content xor multiLangContent, templateId alone, one audience at most."""
        if self.content is not None and self.multiLangContent is not None:
            raise validation_error(
                "multiLangContent and content cannot be used at the same time", "multiLangContent"
            )
        if self.content is None and self.multiLangContent is None:
            raise validation_error("content or multiLangContent is required", "content")
        if self.content is not None and self.content.templateId and self.content.has_own_fields():
            raise validation_error(
                "use only templateId under content, or leave templateId empty",
                "content.templateId",
            )
        if self.segmentId is not None and self.tableId is not None:
            raise validation_error("give either segmentId or tableId, not both", "tableId")

    def template_id(self) -> str | None:
        """The template named under content, if any."""
        return self.content.templateId if self.content is not None else None

    def schedule_utc(self) -> datetime | None:
        """scheduleDate as an aware UTC time (a date without offset is read as UTC)."""
        if self.scheduleDate is None:
            return None
        if self.scheduleDate.tzinfo is None:
            return self.scheduleDate.replace(tzinfo=UTC)
        return self.scheduleDate.astimezone(UTC)

    def message(self) -> Message:
        """The native message for inline contents, validated as a native send would be."""
        return self._validated(self._inline_document())[1]

    def native_contents(self) -> dict[str, Any]:
        """The inline content as native `content`/`contents` and `options`, validated."""
        return self._validated(self._inline_document())[0]

    def _inline_document(self) -> tuple[dict[str, Any], str, str]:
        if self.multiLangContent is not None:
            default = self.multiLangContent.defaultLanguage
            if default not in self.multiLangContent.contents:
                raise validation_error(
                    f"multiLangContent.contents has no content for {default!r}",
                    "multiLangContent.defaultLanguage",
                )
            contents = [
                content.native(None if language == default else language)
                for language, content in self.multiLangContent.contents.items()
            ]
            document: dict[str, Any] = {"contents": contents}
            field, native_field = "multiLangContent.contents", "contents"
        else:
            assert self.content is not None
            document = {"content": self.content.native()}
            field, native_field = "content", "content"
        options: dict[str, Any] = {}
        channel = self.content.androidChannelId if self.content is not None else None
        if channel is not None:
            options["android_channel_id"] = channel
        document["options"] = options
        return document, field, native_field

    @staticmethod
    def _validated(inline: tuple[dict[str, Any], str, str]) -> tuple[dict[str, Any], Message]:
        document, field, native_field = inline
        try:
            message = parse_message(document)
            check_message(message, native_field)
        except DomainError as exc:
            raise from_domain(exc, _instant_field(exc.field, native_field, field)) from None
        return document, message

    def tracking_id(self) -> str:
        """The caller's trackingId, or a new UUID."""
        return str(self.trackingId or uuid.uuid4())

    def audience(self) -> dict[str, Any]:
        """segmentId is a Clarion segment, tableId a Clarion list, neither every device."""
        if self.segmentId is not None:
            return {"segment_id": self.segmentId}
        if self.tableId is not None:
            return {"list_id": self.tableId}
        return {"all": True}

    def broadcast_document(self, contents: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The native broadcast body; `contents` holds content|contents and options."""
        document: dict[str, Any] = {
            **contents,
            "audience": self.audience(),
            "only_last_engaged": self.sendOnlyLastEngagedTokens,
        }
        if self.applicationIds:
            document["apps"] = list(dict.fromkeys(self.applicationIds))
        schedule = self.schedule_utc()
        if schedule is not None and schedule > now:
            document["schedule"] = {"at": schedule.isoformat()}
        return document


#: Native broadcast fields and the SendInstantPush names they are reported under.
INSTANT_FIELDS = (
    ("audience.segment_id", "segmentId"),
    ("audience.list_id", "tableId"),
    ("audience", "segmentId"),
    ("schedule", "scheduleDate"),
    ("apps", "applicationIds"),
    ("only_last_engaged", "sendOnlyLastEngagedTokens"),
    ("contents", "multiLangContent.contents"),
    ("content", "content"),
    ("options", "content"),
)


def instant_field(native: str | None) -> str | None:
    """The SendInstantPush name of a native field path."""
    if native is None:
        return None
    for prefix, name in INSTANT_FIELDS:
        if native == prefix or native.startswith((prefix + ".", prefix + "[")):
            return name + native[len(prefix) :] if prefix == "apps" else name
    return native


def _instant_field(native: str | None, native_root: str, root: str) -> str:
    if native is None or not native.startswith(native_root):
        return root
    rest = native[len(native_root) :]
    for ours, theirs in (
        ("body", "message"),
        ("media.picture", "mediaUrl"),
        ("deeplink", "targetUrl"),
        ("badge", "badgeCount"),
        ("data", "customData"),
    ):
        rest = rest.replace(f".{ours}", f".{theirs}")
    return root + rest
