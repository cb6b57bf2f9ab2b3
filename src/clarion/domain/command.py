"""The native send command every API form is translated into before it is stored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clarion.domain.broadcast import (
    Broadcast,
    Schedule,
    parse_broadcast,
    parse_send_schedule,
    refuse_broadcast_fields,
)
from clarion.domain.engagement import Engagement, parse_engagement
from clarion.domain.errors import DomainError
from clarion.domain.message import Message, has_template_markup, parse_message
from clarion.domain.payloads.build import build_payload
from clarion.domain.personalize import compile_content, compile_contents
from clarion.domain.platforms import Platform
from clarion.domain.recipients import Recipients, parse_recipients
from clarion.domain.render_check import check_render_bounds
from clarion.domain.tags import normalize_language_tag as check_language_tag
from clarion.domain.vocabulary import PUSH_PROVIDERS, ErrorCode, Provider

#: Top-level keys of a stored send that hold a dialect's extras.
_DIALECT_KEYS = ("dengage",)
_PLATFORMS: tuple[Platform, ...] = PUSH_PROVIDERS
# Stand-ins for the per-device parts; neither counts toward any provider's size limit.
_SAMPLE_TARGET = {
    Provider.APNS: "com.example.app",
    Provider.FCM: "sample-token",
    Provider.WEBPUSH: "",
}

#: Send bodies whose canonical JSON is at most this long, and free of template markup,
#: skip the trial builds of the payloads: none could reach a provider's limit. In a
#: payload's limited part each character of the body appears at most three times (a
#: picture URL goes to FCM's notification and, escaped, into the Clarion field carried
#: as a JSON string in its data), escaping at most doubles a character, and the keys the
#: builders add stay far below 900 bytes: 3 x 1,000 + 900 < 3,993 bytes, the smallest
#: limit (the Web Push plaintext). Non-ASCII text counts as its \u escape here, never
#: less than its UTF-8 bytes.
SMALL_PLAIN_CHARS = 1_000


def canonical_json(document: Any) -> str:
    """The body as sorted, compact, ASCII JSON: what the request fingerprint is taken of."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def small_and_plain(canonical: str) -> bool:
    """Whether a body (as `canonical_json`) is small enough, and free of Liquid, for the
    content checks to have nothing to refuse."""
    return len(canonical) <= SMALL_PLAIN_CHARS and not has_template_markup(canonical)


@dataclass(frozen=True)
class SendCommand:
    """Who to reach (recipients, optionally only some apps) and what to send.

    `params` and `current` are the custom parameters and request-time data templates
    read as `params.*` and `current.*`; `language` overrides every recipient's language.
    """

    recipients: Recipients
    message: Message
    apps: tuple[str, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    engagement: Engagement = field(default_factory=Engagement)
    #: Broadcasts only (recipients then empty): audience, exclusions, schedule.
    broadcast: Broadcast | None = None
    #: Sends to recipients only: `at` is when planning is due (broadcasts keep their
    #: schedule in `broadcast`).
    schedule: Schedule | None = None
    #: Fields an API dialect keeps with the send that delivery does not act on, by dialect.
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scheduled_at(self) -> datetime | None:
        """When a send to recipients is due to be planned; None: now."""
        return self.schedule.at if self.schedule is not None else None

    def to_document(self) -> dict[str, Any]:
        """JSON form stored with the send, so planning can resume after a restart."""
        document: dict[str, Any] = {
            "recipients": self.recipients.model_dump(mode="json"),
            "message": self.message.model_dump(mode="json", exclude_none=True),
            "apps": list(self.apps) if self.apps is not None else None,
            "params": self.params,
            "current": self.current,
            "language": self.language,
            "engagement": self.engagement.to_json(),
        }
        if self.broadcast is not None:
            document["broadcast"] = self.broadcast.model_dump(mode="json", exclude_none=True)
        if self.schedule is not None:
            document["schedule"] = self.schedule.model_dump(
                mode="json", exclude_none=True, exclude={"past_time"}
            )
        # Each dialect's extras keep the top-level key they were always stored under.
        for dialect, extra in self.extras.items():
            document[dialect] = dict(extra)
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SendCommand:
        """Rebuild a command from its stored JSON form."""
        apps = document.get("apps")
        broadcast = document.get("broadcast")
        schedule = document.get("schedule")
        extras = {name: document[name] for name in _DIALECT_KEYS if name in document}
        return cls(
            recipients=Recipients.model_validate(document["recipients"])
            if broadcast is None
            else Recipients.model_construct(),
            message=Message.model_validate(document["message"]),
            apps=tuple(apps) if apps is not None else None,
            params=dict(document.get("params") or {}),
            current=dict(document.get("current") or {}),
            language=document.get("language"),
            engagement=Engagement.from_json(document.get("engagement")),
            broadcast=Broadcast.model_validate(broadcast) if broadcast is not None else None,
            schedule=Schedule.model_validate(schedule) if schedule is not None else None,
            extras=extras,
        )


def parse_send_command(
    document: dict[str, Any],
    allowed_apps: frozenset[str] | None,
    now: datetime | None = None,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    canonical: str | None = None,
) -> SendCommand:
    """Validate a native send body; a key limited to apps only reaches those apps.

    `now` is the time schedules are checked against (the current time if not given);
    `extras` are a dialect's own fields, kept with the send under the dialect's name;
    `canonical` is the body's `canonical_json` when the caller has it already.
    """
    if now is None:
        now = datetime.now(UTC)
    broadcast = None
    schedule = None
    if "audience" in document:
        if document.get("recipients") is not None:
            raise DomainError(
                ErrorCode.MALFORMED_PARAMETER, "give either recipients or audience", "recipients"
            )
        broadcast = parse_broadcast(document)
        recipients = Recipients.model_construct()
    else:
        refuse_broadcast_fields(document)
        if document.get("recipients") is None:
            raise DomainError(
                ErrorCode.MISSING_PARAMETER,
                "recipients (or a broadcast audience) is required",
                "recipients",
            )
        recipients = parse_recipients(document.get("recipients"))
        schedule = parse_send_schedule(document.get("schedule"), now)
    message = parse_message(
        {name: document[name] for name in ("content", "contents", "options") if name in document}
    )
    params = document.get("params")
    if canonical is None or not small_and_plain(canonical):
        check_message(
            message,
            "contents" if "contents" in document else "content",
            params if isinstance(params, dict) else None,
        )
    apps = document.get("apps")
    if apps is not None and allowed_apps is not None:
        for index, app_id in enumerate(apps):
            if app_id not in allowed_apps:
                raise DomainError(
                    ErrorCode.FORBIDDEN,
                    f"the API key may not send for app {app_id!r}",
                    f"apps[{index}]",
                )
    if apps is None and allowed_apps is not None:
        apps = sorted(allowed_apps)
    params = document.get("params") or {}
    if not isinstance(params, dict):
        raise DomainError(ErrorCode.MALFORMED_PARAMETER, "params must be an object", "params")
    language = document.get("language")
    if language is not None and check_language_tag(language) is None:
        raise DomainError(
            ErrorCode.MALFORMED_PARAMETER, f"{language!r} is not a language tag", "language"
        )
    return SendCommand(
        recipients,
        message,
        tuple(apps) if apps is not None else None,
        params=params,
        language=check_language_tag(language) if language is not None else None,
        engagement=parse_engagement(document),
        broadcast=broadcast,
        schedule=schedule,
        extras=dict(extras or {}),
    )


def check_message(message: Message, field: str, params: Mapping[str, Any] | None = None) -> None:
    """Refuse at the door what no device could receive: bad templates, template bombs,
    oversized payloads. `params` are the send's own, used by the trial render."""
    contents = message.localized()
    if field == "contents":
        compiled = compile_contents(contents, field)
    else:
        compiled = (compile_content(contents[0], field_path=field),)
    check_render_bounds(compiled, params)
    for index, content in enumerate(contents):
        where = f"{field}[{index}]" if field == "contents" else field
        for platform in PUSH_PROVIDERS:
            try:
                build_payload(platform, content, message.options, _SAMPLE_TARGET[platform])
            except DomainError as exc:
                raise DomainError(exc.code, exc.message, where) from None
