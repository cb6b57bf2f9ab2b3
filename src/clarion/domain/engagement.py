"""The engagement options of a send: inbox storage, SMS fallback and throttling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from clarion.domain.errors import DomainError
from clarion.domain.render_check import check_template_bounds
from clarion.domain.throttle import ThrottleRule, parse_throttle
from clarion.domain.vocabulary import ErrorCode

#: An inbox item lives at most a year.
MAX_INBOX_SECONDS = 365 * 24 * 3600
MAX_SMS_CHARS = 1600
MAX_SENDER_CHARS = 16


@dataclass(frozen=True)
class InboxSpec:
    """Store the message in each targeted contact's inbox; `only` means push nothing."""

    expires_in: int | None = None
    only: bool = False


@dataclass(frozen=True)
class SmsFallbackSpec:
    """The text (a Liquid template) sent to a contact no push reached."""

    body: str
    sender: str | None = None


@dataclass(frozen=True)
class Engagement:
    """The engagement options of one send (all absent by default)."""

    inbox: InboxSpec | None = None
    sms_fallback: SmsFallbackSpec | None = None
    throttle: ThrottleRule | None = None

    @property
    def needs_finish(self) -> bool:
        """Whether the send has work after its pushes: inbox or SMS for unreached contacts."""
        return self.inbox is not None or self.sms_fallback is not None

    def to_json(self) -> dict[str, Any]:
        """Stored form (only the options given)."""
        stored: dict[str, Any] = {}
        if self.inbox is not None:
            stored["inbox"] = {"expires_in": self.inbox.expires_in, "only": self.inbox.only}
        if self.sms_fallback is not None:
            stored["sms_fallback"] = {
                "body": self.sms_fallback.body,
                "sender": self.sms_fallback.sender,
            }
        if self.throttle is not None:
            stored["throttle"] = self.throttle.to_json()
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any] | None) -> Engagement:
        """Rebuild from the stored form."""
        stored = stored or {}
        inbox = stored.get("inbox")
        sms = stored.get("sms_fallback")
        throttle = stored.get("throttle")
        return cls(
            InboxSpec(inbox.get("expires_in"), bool(inbox.get("only"))) if inbox else None,
            SmsFallbackSpec(sms["body"], sms.get("sender")) if sms else None,
            ThrottleRule(throttle["messages"], throttle["per_minutes"]) if throttle else None,
        )


def _malformed(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.MALFORMED_PARAMETER, message, field)


def parse_inbox(inbox: Any, inbox_only: Any) -> InboxSpec | None:
    """`inbox: {"expires_in": seconds}` and/or `inbox_only: true`."""
    if inbox_only is not None and not isinstance(inbox_only, bool):
        raise _malformed("inbox_only must be a boolean", "inbox_only")
    if inbox is None:
        return InboxSpec(only=True) if inbox_only else None
    if not isinstance(inbox, Mapping) or set(inbox) - {"expires_in"}:
        raise _malformed("inbox is {expires_in}", "inbox")
    expires_in = inbox.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not 1 <= expires_in <= MAX_INBOX_SECONDS
    ):
        raise _malformed(
            f"expires_in must be an integer from 1 to {MAX_INBOX_SECONDS}", "inbox.expires_in"
        )
    return InboxSpec(expires_in, bool(inbox_only))


def parse_sms_fallback(value: Any) -> SmsFallbackSpec | None:
    """`sms_fallback: {"body": "...", "sender"?: "..."}`; the body may use Liquid."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"body", "sender"}:
        raise _malformed("sms_fallback is {body, sender}", "sms_fallback")
    body = value.get("body")
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_SMS_CHARS:
        raise _malformed(
            f"body must be text of 1 to {MAX_SMS_CHARS} characters", "sms_fallback.body"
        )
    check_template_bounds(body, "sms_fallback.body")
    sender = value.get("sender")
    if sender is not None and (
        not isinstance(sender, str) or not 1 <= len(sender) <= MAX_SENDER_CHARS
    ):
        raise _malformed(
            f"sender must be text of 1 to {MAX_SENDER_CHARS} characters", "sms_fallback.sender"
        )
    return SmsFallbackSpec(body, sender)


def parse_engagement(document: Mapping[str, Any]) -> Engagement:
    """The engagement options of a native send body."""
    if not _ENGAGEMENT_FIELDS.intersection(document):
        return _NO_ENGAGEMENT
    return Engagement(
        parse_inbox(document.get("inbox"), document.get("inbox_only")),
        parse_sms_fallback(document.get("sms_fallback")),
        parse_throttle(document.get("throttle")),
    )


#: The fields `parse_engagement` reads: a body with none of them has no engagement.
_ENGAGEMENT_FIELDS: Final = frozenset({"inbox", "inbox_only", "sms_fallback", "throttle"})
_NO_ENGAGEMENT: Final = Engagement()
