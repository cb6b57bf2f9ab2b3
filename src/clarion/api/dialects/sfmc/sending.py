"""Sends of a stored definition: the request bodies, their documented errors, the native command."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from clarion.api.dialects.sfmc.definition import (
    ACTIVE,
    INBOX,
    INBOX_ALERT,
    INBOX_ONLY,
    Definition,
    KeyValue,
    validation_lines,
)
from clarion.api.dialects.sfmc.errors import SfmcError, bad_request, from_domain
from clarion.domain.command import SendCommand, parse_send_command
from clarion.domain.engagement import MAX_INBOX_SECONDS
from clarion.domain.errors import DomainError
from clarion.domain.safe_input import Int

MAX_VALUES: Final = 5000
SEND_TIME_FORMAT: Final = "%Y-%m-%d %H:%M"
_SEND_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
_MESSAGE_ID: Final = re.compile(r"^[A-Za-z0-9_=-]{1,64}$")
#: tzPastSendAction: 1 (and the example's 0) send at once, 2 the next day, 3 never.
PAST_SEND_ACTIONS: Final = {0: "send_now", 1: "send_now", 2: "next_day", 3: "skip"}
ModelT = TypeVar("ModelT", bound=BaseModel)
ListId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Overrides(_Model):
    """What a send may change in the definition's content."""

    title: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    subtitle: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    mutable_content: bool | None = Field(None, alias="mutable-content")
    sound: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    badge: Int | Annotated[str, StringConstraints(pattern=r"^\+?\d{1,9}$")] | None = None
    openDirect: Annotated[str, StringConstraints(min_length=1, max_length=15)] | None = None
    keys: list[KeyValue] | None = None


class Audience(_Model):
    """Who a send reaches, and when."""

    deviceTokens: list[str] | None = None
    subscriberKeys: list[str] | None = None
    inclusionTags: list[str] | None = None
    exclusionTags: list[str] | None = None
    sendTime: str | None = None


class TextOverride(Overrides):
    """The overrides plus the rules replacing the alert text itself."""

    override: bool = False
    messageText: Annotated[str, StringConstraints(max_length=16_384)] | None = None


class ContactSend(Audience, TextOverride):
    """POST /push/v1/messageContact/{messageId}/send."""


class ListSend(TextOverride):
    """POST /push/v1/messageList/{messageId}/send: one inclusion list, any exclusion lists."""

    inclusionListIds: list[ListId] | None = None
    exclusionListIds: list[ListId] | None = None
    inclusionTags: list[TagName] | None = None
    exclusionTags: list[TagName] | None = None
    sendTime: str | None = None


class TagSend(TextOverride):
    """POST /push/v1/messageTag/{messageId}/send: devices with any inclusion tag."""

    inclusionTags: list[TagName] | None = None
    exclusionTags: list[TagName] | None = None
    exclusionListIds: list[ListId] | None = None
    sendTime: str | None = None


class BatchMessage(Overrides):
    """The message part of a messageBatch send; alert is required there."""

    alert: Annotated[str, StringConstraints(max_length=16_384)]


class BatchSend(Audience):
    """POST /push/v1/messageBatch/{messageId}/send."""

    message: BatchMessage | list[BatchMessage]


def check_message_id(message_id: str) -> None:
    """Refuse an id that cannot be one of ours."""
    if not _MESSAGE_ID.match(message_id):
        raise bad_request(f"Message id {message_id} is not valid.")


def check_sendable(message_id: str, definition: Definition, now: datetime) -> None:
    """A definition can be sent when active, an alert, and inside its availability window."""
    if definition.status != ACTIVE:
        raise bad_request(f"The status for Message {message_id} is not set to Active.")
    if definition.is_location():
        raise bad_request(
            f"Message {message_id} is a location or beacon message: the device shows it "
            "when it enters or leaves a geofence or beacon region, it cannot be sent by API."
        )
    if now < definition.startDate:
        raise bad_request(f"Message {message_id} is not available for sends before its startDate.")
    if definition.endDate is not None and now >= definition.endDate:
        raise bad_request(f"Message {message_id} is no longer available for sends (endDate).")


def parse_body(model: type[ModelT], document: dict[str, Any]) -> ModelT:
    """Validate a send body, listing every problem."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise bad_request(*validation_lines(exc)) from None


def check_audience(audience: Audience, definition: Definition) -> None:
    """Explicit recipients only (tags wait on segments); a well-formed sendTime."""
    problems: list[str] = []
    if audience.inclusionTags or audience.exclusionTags:
        problems.append(
            "inclusionTags and exclusionTags are not supported yet on messageContact and "
            "messageBatch sends: use messageTag to send to tags."
        )
    if audience.deviceTokens is None and audience.subscriberKeys is None:
        problems.append("One or more DeviceTokens must be specified in order to send a message.")
    elif not audience.deviceTokens and not audience.subscriberKeys:
        problems.append("The count of DeviceTokens cannot be zero.")
    for name in ("deviceTokens", "subscriberKeys"):
        values = getattr(audience, name) or []
        if len(values) > MAX_VALUES:
            problems.append(f"The count of {name} cannot exceed {MAX_VALUES}.")
    if audience.sendTime is not None:
        send_at = parse_send_time(audience.sendTime, definition)
        if send_at is None:
            problems.append(f"{audience.sendTime} is not a valid send time (yyyy-MM-dd HH:mm).")
    if problems:
        raise bad_request(*problems)


def parse_send_time(value: str, definition: Definition) -> datetime | None:
    """sendTime read in the definition's scheduledTzOffset (default UTC-6), or None if invalid."""
    if not _SEND_TIME.match(value):
        return None
    try:
        local = datetime.strptime(value, SEND_TIME_FORMAT)
    except ValueError:
        return None
    offset = definition.scheduledTzOffset if definition.scheduledTzOffset is not None else -6.0
    return local.replace(tzinfo=timezone(timedelta(hours=offset)))


def contact_text(message_id: str, body: TextOverride, definition: Definition) -> str:
    """The alert text after the override rules (an inbox-only message falls back to its subject)."""
    text = body.messageText
    if body.override:
        if text is None or not text.strip():
            raise bad_request("Cannot override message text with a blank message.")
        return text
    if text is not None:
        raise bad_request("MessageText is not applicable when Override is false.")
    text = definition.alert
    if not text and definition.contentType == INBOX_ONLY:
        text = definition.subject
    if not text or not text.strip():
        raise bad_request("Message is blank and no override message was provided.")
    return text


def _badge(content: dict[str, Any], badge: int | str | None) -> None:
    if badge is None:
        return
    if isinstance(badge, str) and badge.startswith("+"):
        content["badge_increment"] = int(badge[1:])
    else:
        content["badge"] = int(badge)


def native_document(definition: Definition, text: str, overrides: Overrides) -> dict[str, Any]:
    """The native message and app of a definition, the final text and a send's overrides."""
    data: dict[str, Any] = dict(definition.custom or {})
    for pair in [*(definition.keys or []), *(overrides.keys or [])]:
        data[pair.key] = pair.value
    open_direct = overrides.openDirect or definition.openDirect
    if open_direct:
        data["_od"] = open_direct
    content: dict[str, Any] = {
        "body": text,
        "title": overrides.title if overrides.title is not None else definition.title,
        "subtitle": overrides.subtitle if overrides.subtitle is not None else definition.subtitle,
        "sound": overrides.sound or definition.sound,
        "data": data,
    }
    _badge(content, overrides.badge if overrides.badge is not None else definition.badge)
    if definition.media is not None:
        picture = definition.media.iosUrl or definition.media.androidUrl
        if picture:
            content["media"] = {"picture": picture}
        if definition.media.alt:
            data["_mediaAlt"] = definition.media.alt
    if definition.has_page() and definition.url:
        content["deeplink"] = definition.url
    mutable = overrides.mutable_content
    options = {
        "content_available": definition.content_available == 1,
        "mutable_content": bool(definition.mutable_content if mutable is None else mutable),
    }
    return {
        "apps": [definition.application.id],
        "content": {key: value for key, value in content.items() if value is not None},
        "options": options,
    }


def contact_document(
    definition: Definition, text: str, audience: Audience, overrides: Overrides, now: datetime
) -> dict[str, Any]:
    """The native send to explicit device tokens and subscriber keys.

    A future sendTime (read in scheduledTzOffset; tzBased does not apply to explicit
    recipients) becomes native `schedule.at`; a past or present one sends now.
    """
    recipients: dict[str, Any] = {}
    if audience.deviceTokens:
        recipients["tokens"] = audience.deviceTokens
    if audience.subscriberKeys:
        recipients["external_ids"] = audience.subscriberKeys
    return {
        **native_document(definition, text, overrides),
        **engagement_fields(definition, now),
        **instant_schedule(definition, audience.sendTime, now),
        "recipients": recipients,
    }


def engagement_fields(definition: Definition, now: datetime) -> dict[str, Any]:
    """Throttling and inbox storage the definition asks of every send of it.

    Inbox messages (contentType 2, or messageType 8 without alert) are stored and not
    pushed; inbox+alert (contentType 3) are both. An endDate bounds the item's life.
    """
    fields: dict[str, Any] = {}
    if definition.messagesPerPeriod is not None and definition.minutesPerPeriod is not None:
        fields["throttle"] = {
            "messages": definition.messagesPerPeriod,
            "per_minutes": definition.minutesPerPeriod,
        }
    inbox_only = definition.contentType == INBOX_ONLY or (
        definition.messageType == INBOX and definition.contentType != INBOX_ALERT
    )
    if inbox_only or definition.contentType == INBOX_ALERT:
        inbox: dict[str, Any] = {}
        if definition.endDate is not None:
            seconds = math.ceil((definition.endDate - now).total_seconds())
            inbox["expires_in"] = min(max(seconds, 1), MAX_INBOX_SECONDS)
        fields["inbox"] = inbox
        if inbox_only:
            fields["inbox_only"] = True
    return fields


def schedule_fields(definition: Definition, send_time: str | None, now: datetime) -> dict[str, Any]:
    """A list or tag send's schedule: local time per device (tzBased), else one instant.

    With tzBased the sendTime is the wall-clock time in each device's zone and
    tzPastSendAction picks what zones already past it get; otherwise the sendTime is
    read in scheduledTzOffset and a past or present one sends now.
    """
    if send_time is None:
        return {}
    send_at = parse_send_time(send_time, definition)
    if send_at is None:
        raise bad_request(f"{send_time} is not a valid send time (yyyy-MM-dd HH:mm).")
    if definition.tzBased:
        action = definition.tzPastSendAction if definition.tzPastSendAction is not None else 1
        day, wall_clock = send_time.split(" ")
        return {
            "schedule": {
                "local_time": wall_clock,
                "date": day,
                "past_time": PAST_SEND_ACTIONS[action],
            }
        }
    return instant_schedule(definition, send_time, now)


def instant_schedule(
    definition: Definition, send_time: str | None, now: datetime
) -> dict[str, Any]:
    """sendTime read in scheduledTzOffset as native `schedule.at`; none when past or absent."""
    send_at = parse_send_time(send_time, definition) if send_time is not None else None
    if send_at is None or send_at <= now:
        return {}
    return {"schedule": {"at": send_at.isoformat()}}


def list_ids(given: list[str] | None, stored: list[Any] | None) -> list[str]:
    """The list ids a send names, else the definition's (each `{"id"}`)."""
    if given:
        return list(dict.fromkeys(given))
    return list(dict.fromkeys(ref.id for ref in stored or []))


def exclusions(definition: Definition, given: list[str] | None) -> list[str]:
    """The definition's exclusion lists plus the send's own."""
    stored = [ref.id for ref in definition.exclusionLists or []]
    return list(dict.fromkeys([*stored, *(given or [])]))


def list_audience(definition: Definition, body: ListSend) -> dict[str, Any]:
    """The audience of a messageList send: its one inclusion list, minus the exclusions."""
    if body.inclusionTags or body.exclusionTags:
        raise bad_request(
            "inclusionTags and exclusionTags cannot be combined with lists yet: "
            "use messageTag for tag audiences."
        )
    included = list_ids(body.inclusionListIds, definition.inclusionLists)
    if not included:
        raise bad_request("inclusionListIds is required.")
    if len(included) > 1:
        raise bad_request(
            "Sends to more than one inclusion list are not supported yet: "
            "give one list in inclusionListIds."
        )
    return {
        "audience": {"list_id": included[0]},
        "exclude_lists": exclusions(definition, body.exclusionListIds),
    }


def tag_audience(definition: Definition, body: TagSend) -> dict[str, Any]:
    """The audience of a messageTag send: devices with any inclusion tag and no exclusion tag."""
    if not body.inclusionTags:
        raise bad_request("inclusionTags is required.")
    tags: dict[str, Any] = {"any": list(dict.fromkeys(body.inclusionTags))}
    if body.exclusionTags:
        tags["none"] = list(dict.fromkeys(body.exclusionTags))
    return {
        "audience": {"filter": {"tags": tags}},
        "exclude_lists": exclusions(definition, body.exclusionListIds),
    }


def audience_error(exc: DomainError, audience: dict[str, Any]) -> SfmcError:
    """A core error on a list or tag send, naming the list that does not exist."""
    field = exc.field or ""
    if exc.code == "NOT_FOUND" and field == "audience.list_id":
        return bad_request(f"List {audience['audience']['list_id']} is not valid for the client.")
    if exc.code == "NOT_FOUND" and field.startswith("exclude_lists["):
        index = int(field[len("exclude_lists[") : -1])
        return bad_request(f"List {audience['exclude_lists'][index]} is not valid for the client.")
    return from_domain(exc)


def build_command(document: dict[str, Any], allowed_apps: frozenset[str] | None) -> SendCommand:
    """The native command, core errors reported under the sfmc field names."""
    try:
        return parse_send_command(document, allowed_apps)
    except DomainError as exc:
        raise from_domain(exc) from None


def batch_message(body: BatchSend) -> BatchMessage:
    """The one message of a batch (documented as an array, used as one object)."""
    if isinstance(body.message, list):
        if len(body.message) != 1:
            raise bad_request("message must hold exactly one message.")
        return body.message[0]
    return body.message
