"""Read FCM HTTP v1 error bodies and map them to delivery outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clarion.providers.result import Outcome

_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
_TOKEN_FIELD = "message.token"

_RETRY_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})


@dataclass(frozen=True, slots=True)
class FcmError:
    """The useful parts of an FCM error body."""

    error_code: str | None
    status: str | None
    message: str
    violated_fields: tuple[str, ...]

    @property
    def reason(self) -> str | None:
        """The most specific code available, for recording."""
        return self.error_code or self.status


def parse_error(document: Any) -> FcmError:
    """Pull errorCode, status, message and violated fields out of a v1 error body."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return FcmError(None, None, "", ())
    error_code: str | None = None
    fields: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == _FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
            error_code = detail["errorCode"]
        elif detail.get("@type") == _BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or []:
                if isinstance(violation, dict) and isinstance(violation.get("field"), str):
                    fields.append(violation["field"])
    status = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return FcmError(error_code, status, str(message), tuple(fields))


def outcome_for(http_status: int, error: FcmError) -> Outcome:
    """The outcome an FCM answer implies."""
    if 200 <= http_status < 300:
        return Outcome.SENT
    code = error.reason
    if code == "UNREGISTERED" or http_status == 404:
        return Outcome.INVALID_TOKEN
    if code == "INVALID_ARGUMENT":
        return Outcome.INVALID_TOKEN if _about_the_token(error) else Outcome.FAILED
    if code in _RETRY_CODES or http_status == 429 or http_status >= 500:
        return Outcome.RETRY
    # Everything else, SENDER_ID_MISMATCH and THIRD_PARTY_AUTH_ERROR included,
    # points at credentials or content rather than the device: pruning on them
    # would wipe devices over a settings mistake.
    return Outcome.FAILED


def _about_the_token(error: FcmError) -> bool:
    """INVALID_ARGUMENT blames the token when the token field is named, or no field is."""
    if error.violated_fields:
        return _TOKEN_FIELD in error.violated_fields
    return "registration token" in error.message.lower()
