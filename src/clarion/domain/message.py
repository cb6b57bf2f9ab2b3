"""The one message model every API dialect translates into: contents and delivery options."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from clarion.domain.errors import (
    MALFORMED_PARAMETER,
    MISSING_PARAMETER,
    DomainError,
    FieldProblem,
    domain_error_from_validation,
    join_path,
)
from clarion.domain.safe_input import HeaderValue, Int, has_control_or_space
from clarion.domain.tags import normalize_language_tag

MAX_TTL_SECONDS: Final = 2_419_200  # 28 days, the longest any provider stores a message
MAX_TEXT_CHARS: Final = 16_384
MAX_URL_CHARS: Final = 2_048
MAX_DATA_KEY_CHARS: Final = 256
MAX_ACTIONS: Final = 10
MAX_LABELS: Final = 3
MAX_COLLAPSE_KEY_BYTES: Final = 64  # apns-collapse-id is capped at 64 bytes

#: Top-level key under which Clarion's own fields (deeplink, media, landing) travel.
CLARION_KEY: Final = "clarion"

#: Custom data keys refused because a provider or Clarion already gives them a meaning.
RESERVED_DATA_KEYS: Final = frozenset(
    {"aps", CLARION_KEY, "from", "notification", "message_type", "collapse_key"}
)
#: FCM refuses any data key starting with these words.
RESERVED_DATA_PREFIXES: Final = ("google", "gcm")

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Priority = Literal["normal", "high"]
PushType = Literal["alert", "background"]
Urgency = Literal["very-low", "low", "normal", "high"]


def has_template_markup(value: str) -> bool:
    """True when the text holds Liquid markup and so is only checkable after rendering."""
    return "{{" in value or "{%" in value


def _check_url(value: str) -> str:
    if has_template_markup(value):
        return value
    # urlsplit quietly drops tabs and line breaks; the URL would still carry them.
    if has_control_or_space(value):
        raise FieldProblem(MALFORMED_PARAMETER, "a URL cannot hold spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FieldProblem(MALFORMED_PARAMETER, f"{value!r} is not an http(s) URL")
    return value


def _check_link(value: str) -> str:
    if not value.strip():
        raise FieldProblem(MALFORMED_PARAMETER, "a link cannot be blank")
    return value


Url = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(_check_url)
]
Link = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(_check_link)
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def data_key_path(key: str) -> str:
    """The path segment naming a data key: plain when an identifier, ["..."] otherwise."""
    return key if key.isidentifier() else f"[{json.dumps(key)}]"


def check_data_keys(data: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Refuse custom data keys that providers reserve or that are empty or too long."""
    for key in data:
        lowered = key.lower()
        if not key or len(key) > MAX_DATA_KEY_CHARS:
            raise FieldProblem(
                MALFORMED_PARAMETER, "data keys must be 1 to 256 characters", data_key_path(key)
            )
        if lowered in RESERVED_DATA_KEYS or lowered.startswith(RESERVED_DATA_PREFIXES):
            raise FieldProblem(
                MALFORMED_PARAMETER, f"data key {key!r} is reserved", data_key_path(key)
            )
    return data


def check_language(value: str | None) -> str | None:
    """Normalize a BCP 47 tag or refuse it."""
    if value is None:
        return None
    normalized = normalize_language_tag(value)
    if normalized is None:
        raise FieldProblem(MALFORMED_PARAMETER, f"{value!r} is not a BCP 47 language tag")
    return normalized


class _HasLanguage(Protocol):
    @property
    def language(self) -> str | None:
        """The BCP 47 tag, or None for the fallback."""


def check_fallback(items: Sequence[_HasLanguage]) -> None:
    """Several localized items need exactly one fallback (no language) and distinct languages.

    A single item is its own fallback whatever its language.
    """
    if len(items) <= 1:
        return
    fallbacks = [index for index, item in enumerate(items) if item.language is None]
    if not fallbacks:
        raise FieldProblem(
            MISSING_PARAMETER, "one content without language is needed as the fallback"
        )
    if len(fallbacks) > 1:
        raise FieldProblem(
            MALFORMED_PARAMETER,
            "only one content may omit its language (the fallback)",
            f"[{fallbacks[1]}].language",
        )
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.language is None:
            continue
        if item.language in seen:
            raise FieldProblem(
                MALFORMED_PARAMETER,
                f"language {item.language!r} is given twice",
                f"[{index}].language",
            )
        seen.add(item.language)


class Media(_Frozen):
    """Rich media URLs: icon (Android/web), picture, audio and video (iOS attachments)."""

    icon: Url | None = None
    picture: Url | None = None
    audio: Url | None = None
    video: Url | None = None

    def is_empty(self) -> bool:
        """True when no media URL is set."""
        return not (self.icon or self.picture or self.audio or self.video)


class Action(_Frozen):
    """A notification button: identifier, visible label and optional link it opens."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]
    label: ShortText
    deeplink: Link | None = None


class LandingAction(_Frozen):
    """A button of the in-app landing view; no action name means "close"."""

    action: ShortText | None = None
    label: ShortText
    args: dict[str, JsonValue] = Field(default_factory=dict)


class LandingContent(_Frozen):
    """The texts of a landing view in one language (no language means fallback)."""

    language: str | None = None
    header: Text | None = None
    title: Text | None = None
    body: Text | None = None
    image: Url | None = None
    image_description: Text | None = None
    actions: tuple[LandingAction, ...] = ()

    _language = field_validator("language")(check_language)


class Landing(_Frozen):
    """An in-app view shown when the notification is opened: theme, image, texts, actions."""

    theme: ShortText
    webview_url: Url | None = None
    tracking_id: ShortText | None = None
    header: Text | None = None
    title: Text | None = None
    body: Text | None = None
    image: Url | None = None
    image_description: Text | None = None
    actions: tuple[LandingAction, ...] = ()
    contents: tuple[LandingContent, ...] = ()

    @field_validator("contents")
    @classmethod
    def _one_fallback(cls, contents: tuple[LandingContent, ...]) -> tuple[LandingContent, ...]:
        check_fallback(contents)
        return contents


class Content(_Frozen):
    """What the user sees (or the app receives): texts, sound, badge, media, data, landing.

    `badge` sets the app badge; `badge_increment` adds to the installation's known
    count instead (both together are refused). Custom `data` accepts any JSON value
    under non-reserved keys.
    """

    title: Text | None = None
    subtitle: Text | None = None
    body: Text | None = None
    sound: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    badge: Annotated[Int, Field(ge=0, le=2_147_483_647)] | None = None
    badge_increment: Annotated[Int, Field(ge=-100_000, le=100_000)] | None = None
    deeplink: Link | None = None
    media: Media = Field(default_factory=Media)
    data: dict[str, JsonValue] = Field(default_factory=dict)
    category: ShortText | None = None
    actions: Annotated[tuple[Action, ...], Field(max_length=MAX_ACTIONS)] = ()
    thread_id: ShortText | None = None
    landing: Landing | None = None

    _data_keys = field_validator("data")(check_data_keys)

    @model_validator(mode="after")
    def _badge_or_increment(self) -> Content:
        if self.badge is not None and self.badge_increment is not None:
            raise FieldProblem(
                MALFORMED_PARAMETER, "badge and badge_increment cannot be combined", "badge"
            )
        if self.badge_increment == 0:
            raise FieldProblem(
                MALFORMED_PARAMETER, "badge_increment cannot be 0", "badge_increment"
            )
        return self

    def visible_fields(self) -> list[str]:
        """Names of the set fields a user would see or hear, in declaration order."""
        names = ["title", "subtitle", "body", "sound", "badge", "badge_increment"]
        found = [name for name in names if getattr(self, name) is not None]
        if not self.media.is_empty():
            found.append("media")
        return found


class LocalizedContent(Content):
    """A Content for one language (BCP 47); without language it is the fallback."""

    language: str | None = None

    _language = field_validator("language")(check_language)


class WebPushOptions(_Frozen):
    """Web Push only: urgency, replacement topic, icon, badge image, actions."""

    urgency: Urgency | None = None
    # RFC 8030 topics are at most 32 characters of the URL-safe base64 alphabet.
    topic: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    icon: Url | None = None
    badge: Url | None = None
    actions: Annotated[tuple[Action, ...], Field(max_length=MAX_ACTIONS)] | None = None
    require_interaction: bool = False


class Options(_Frozen):
    """How to deliver: priority, lifetime, collapsing, push type and platform switches.

    `priority` None means the platform default (APNs 10, FCM normal). `ttl` None means
    the provider default. `truncate_body` asks for the body to be shortened when the
    payload exceeds the platform limit instead of refusing the message.
    """

    priority: Priority | None = None
    ttl: Annotated[Int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = None
    # Sent as the apns-collapse-id header.
    collapse_key: Annotated[HeaderValue, StringConstraints(min_length=1, max_length=256)] | None = (
        None
    )
    push_type: PushType = "alert"
    content_available: bool = False
    mutable_content: bool = False
    sandbox: bool = False
    android_channel_id: ShortText | None = None
    labels: Annotated[tuple[ShortText, ...], Field(max_length=MAX_LABELS)] = ()
    skip_media_check: bool = False
    truncate_body: bool = False
    webpush: WebPushOptions = Field(default_factory=WebPushOptions)

    @field_validator("collapse_key")
    @classmethod
    def _collapse_key_size(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > MAX_COLLAPSE_KEY_BYTES:
            raise FieldProblem(MALFORMED_PARAMETER, "collapse_key is limited to 64 bytes")
        return value


class Message(_Frozen):
    """One content (`content`) or per-language contents (`contents`) plus options."""

    content: LocalizedContent | None = None
    contents: tuple[LocalizedContent, ...] | None = None
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _coherent(self) -> Message:
        if self.content is not None and self.contents is not None:
            raise FieldProblem(MALFORMED_PARAMETER, "content and contents conflict", "contents")
        if self.contents is not None:
            if not self.contents:
                raise FieldProblem(MISSING_PARAMETER, "contents cannot be empty", "contents")
            check_contents(self.contents, self.options, "contents")
        elif self.content is not None:
            check_contents((self.content,), self.options, None, single_name="content")
        elif self.options.push_type == "alert":
            raise FieldProblem(MISSING_PARAMETER, "content or contents is required", "content")
        return self

    def localized(self) -> tuple[LocalizedContent, ...]:
        """Every content of the message; a background push without content gets an empty one."""
        if self.contents is not None:
            return self.contents
        return (self.content if self.content is not None else LocalizedContent(),)


def check_contents(
    contents: Sequence[LocalizedContent],
    options: Options,
    field: str | None,
    single_name: str | None = None,
) -> None:
    """Apply the rules binding contents to options: fallback, alert text, silent pushes."""
    try:
        check_fallback(contents)
    except FieldProblem as problem:
        raise FieldProblem(
            problem.code, problem.message, join_path(field, problem.subpath)
        ) from None
    for index, content in enumerate(contents):
        where = single_name if single_name else join_path(field, index)
        if options.push_type == "background":
            visible = content.visible_fields()
            if visible:
                raise FieldProblem(
                    MALFORMED_PARAMETER,
                    f"a background push cannot carry visible content ({visible[0]})",
                    join_path(where, visible[0]),
                )
        elif content.title is None and content.body is None:
            raise FieldProblem(
                MISSING_PARAMETER, "an alert needs a title or a body", join_path(where, "body")
            )


def parse_message(data: Any) -> Message:
    """Validate raw data into a Message, raising DomainError with a dotted field path."""
    try:
        return Message.model_validate(data)
    except ValidationError as exc:
        raise domain_error_from_validation(exc) from None


def parse_contents(data: Any, options: Options | None = None) -> tuple[LocalizedContent, ...]:
    """Validate a list of per-language contents (templates use this) with the same rules."""
    try:
        message = Message.model_validate({"contents": data, "options": options or Options()})
    except ValidationError as exc:
        raise domain_error_from_validation(exc) from None
    assert message.contents is not None  # the validator refuses a message without contents
    return message.contents


__all__ = [
    "CLARION_KEY",
    "RESERVED_DATA_KEYS",
    "Action",
    "Content",
    "DomainError",
    "Landing",
    "LandingAction",
    "LandingContent",
    "LocalizedContent",
    "Media",
    "Message",
    "Options",
    "WebPushOptions",
    "parse_contents",
    "parse_message",
]
