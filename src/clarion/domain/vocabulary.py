"""The words Clarion stores and answers with: providers, platforms, statuses, outcomes, codes.

Each enum's values are the strings already in the database and in API answers, so
members compare, hash and serialize exactly like those strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Provider(StrEnum):
    """A service Clarion hands notifications to."""

    APNS = "apns"
    FCM = "fcm"
    WEBPUSH = "webpush"
    SMS = "sms"


#: The providers that deliver push notifications to installations (SMS is only a fallback).
PUSH_PROVIDERS: Final = (Provider.APNS, Provider.FCM, Provider.WEBPUSH)


class DevicePlatform(StrEnum):
    """The platform an installation registers with."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"
    # Registered and targetable by segments, but no provider serves it yet.
    HUAWEI = "huawei"


#: The provider serving each installation platform; a platform missing here gets nothing.
PLATFORM_PROVIDER: Final[dict[str, Provider]] = {
    DevicePlatform.IOS: Provider.APNS,
    DevicePlatform.ANDROID: Provider.FCM,
    DevicePlatform.WEB: Provider.WEBPUSH,
}


def provider_of(platform: str) -> Provider | None:
    """The provider serving an installation platform, or None when none does."""
    return PLATFORM_PROVIDER.get(platform)


class SendStatus(StrEnum):
    """Where a send stands: accepted (or scheduled) -> planning -> delivering -> done."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    PLANNING = "planning"
    DELIVERING = "delivering"
    DONE = "done"
    # Planning was given up.
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether a send in this status never moves again."""
        return self in FINAL_STATUSES


# Tuples rather than sets: SQL `IN` lists then come out in a stable order.
#: Statuses a send never leaves; every other status must lead to one of them.
FINAL_STATUSES: Final = (SendStatus.DONE, SendStatus.FAILED, SendStatus.CANCELLED)
#: Statuses of sends still on their way.
OPEN_STATUSES: Final = tuple(s for s in SendStatus if s not in FINAL_STATUSES)
#: Statuses from which planning may (still) run.
PLANNABLE_STATUSES: Final = (SendStatus.ACCEPTED, SendStatus.SCHEDULED, SendStatus.PLANNING)


class DeliveryOutcome(StrEnum):
    """What became of one targeted device (or of its SMS fallback)."""

    # Not final yet: still to be tried (or waiting for its throttle window).
    PENDING = "pending"
    SENT = "sent"
    # The recipient matched no installation, or the installation went away.
    NOT_FOUND = "not_found"
    # The provider refused the device for good (bad token, unsupported platform).
    UNDELIVERABLE = "undeliverable"
    ERROR = "error"
    CANCELLED = "cancelled"
    # A broadcast's local time had passed and the send asked to skip such devices.
    SKIPPED = "skipped"
    # The contact reached a frequency cap.
    CAPPED = "capped"
    # Kept in the contact's inbox only, without a push.
    INBOXED = "inboxed"
    # Rows of the SMS fallback step.
    SMS_FALLBACK = "sms_fallback"
    SMS_FAILED = "sms_failed"
    SMS_NO_PHONE = "sms_no_phone"
    # Never stored: the API shows a pending delivery waiting for its window as throttled.
    THROTTLED = "throttled"


#: Outcomes always present in a send's counts, zero or not.
COUNTED_OUTCOMES: Final = (
    DeliveryOutcome.SENT,
    DeliveryOutcome.NOT_FOUND,
    DeliveryOutcome.UNDELIVERABLE,
    DeliveryOutcome.ERROR,
    DeliveryOutcome.CANCELLED,
    DeliveryOutcome.PENDING,
)
#: Push outcomes after which an SMS fallback is tried.
FAILED_PUSH: Final = frozenset({DeliveryOutcome.UNDELIVERABLE, DeliveryOutcome.ERROR})


class JobKind(StrEnum):
    """The kinds of jobs the send path puts on the queue."""

    PLAN_SEND = "plan_send"
    DELIVER = "deliver"
    #: A send's last step once no push is waiting: inbox items of the unreached, SMS fallback.
    FINISH_SEND = "finish_send"


class ErrorCode(StrEnum):
    """The codes of native errors, in API answers and in delivery reasons.

    Dialects answer with their own codes and keep them to themselves.
    """

    MISSING_PARAMETER = "MISSING_PARAMETER"
    MALFORMED_PARAMETER = "MALFORMED_PARAMETER"
    MALFORMED_JSON_BODY = "MALFORMED_JSON_BODY"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    AUTHENTICATION_INVALID = "AUTHENTICATION_INVALID"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    SEND_FINISHED = "SEND_FINISHED"
    TEMPLATE_INACTIVE = "TEMPLATE_INACTIVE"
    TEMPLATE_OUT_OF_WINDOW = "TEMPLATE_OUT_OF_WINDOW"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    HTTP_ERROR = "HTTP_ERROR"
    SERVER_ERROR = "SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    NOT_READY = "NOT_READY"
    # Delivery-time failures of one device, recorded as its reason.
    RENDER_FAILED = "RENDER_FAILED"
    MISSING_TOPIC = "MISSING_TOPIC"
    UNSUPPORTED_PLATFORM = "UNSUPPORTED_PLATFORM"
