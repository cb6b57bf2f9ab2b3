"""Map APNs response status codes and reason strings to delivery outcomes."""

from __future__ import annotations

from clarion.providers.result import Outcome

# The device will never receive notifications through this token again.
_INVALID_TOKEN_REASONS = frozenset({"BadDeviceToken", "Unregistered", "ExpiredToken"})

# Transient on Apple's side or ours: the same request may succeed later.
_RETRY_REASONS = frozenset(
    {
        "TooManyRequests",
        "TooManyProviderTokenUpdates",
        "InternalServerError",
        "ServiceUnavailable",
        "Shutdown",
        "IdleTimeout",
    }
)

# DeviceTokenNotForTopic stays permanent-but-not-pruned on purpose: a wrong
# apns-topic in the app's settings would otherwise wipe every device it has.
KNOWN_REASONS = frozenset(
    {
        "BadCollapseId",
        "BadDeviceToken",
        "BadExpirationDate",
        "BadMessageId",
        "BadPriority",
        "BadTopic",
        "DeviceTokenNotForTopic",
        "DuplicateHeaders",
        "IdleTimeout",
        "InvalidPushType",
        "MissingDeviceToken",
        "MissingTopic",
        "PayloadEmpty",
        "TopicDisallowed",
        "BadCertificate",
        "BadCertificateEnvironment",
        "ExpiredProviderToken",
        "Forbidden",
        "InvalidProviderToken",
        "MissingProviderToken",
        "UnrelatedKeyIdInToken",
        "BadEnvironmentKeyIdInToken",
        "BadPath",
        "MethodNotAllowed",
        "ExpiredToken",
        "Unregistered",
        "PayloadTooLarge",
        "TooManyProviderTokenUpdates",
        "TooManyRequests",
        "InternalServerError",
        "ServiceUnavailable",
        "Shutdown",
    }
)


def outcome_for(status: int, reason: str | None) -> Outcome:
    """The outcome Apple's answer implies; unknown reasons fall back on the status class."""
    if status == 200:
        return Outcome.SENT
    if reason in _INVALID_TOKEN_REASONS:
        return Outcome.INVALID_TOKEN
    if reason in _RETRY_REASONS:
        return Outcome.RETRY
    if reason in KNOWN_REASONS:
        return Outcome.FAILED
    if status == 410:
        return Outcome.INVALID_TOKEN
    if status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED
