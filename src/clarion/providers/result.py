"""The outcome of one delivery attempt, as every transport reports it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What the caller should do with the device after one attempt."""

    SENT = "sent"
    INVALID_TOKEN = "invalid_token"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One attempt's outcome plus what the provider said about it."""

    outcome: Outcome
    status: int | None = None
    reason: str | None = None
    provider_message_id: str | None = None
    retry_after: float | None = None

    @property
    def sent(self) -> bool:
        """True when the provider accepted the notification."""
        return self.outcome is Outcome.SENT

    @classmethod
    def transport_error(cls, reason: str) -> DeliveryResult:
        """A retryable result for failures below HTTP (timeouts, resets, refused connections)."""
        return cls(outcome=Outcome.RETRY, reason=reason)
