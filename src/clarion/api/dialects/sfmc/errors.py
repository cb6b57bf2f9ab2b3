"""The sfmc dialect's error bodies: `{"errors": [...]}` for requests, the token shape for auth."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from clarion.domain.errors import DomainError


class SfmcError(Exception):
    """A failure answered with the platform's body for its status."""

    def __init__(self, status: int, messages: list[str], retry_after: int | None = None) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        """Auth failures use the token endpoint's shape; everything else lists its errors."""
        body: dict[str, Any]
        if self.status in (401, 403):
            body = {"message": self.messages[0], "errorcode": 0, "documentation": ""}
        else:
            body = {"errors": self.messages}
        response = JSONResponse(body, status_code=self.status)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


def bad_request(*messages: str) -> SfmcError:
    """A 400 listing what is wrong."""
    return SfmcError(400, list(messages))


#: Native field prefixes and the sfmc names they are reported under.
_FIELD_NAMES = (
    ("recipients.tokens", "deviceTokens"),
    ("recipients.external_ids", "subscriberKeys"),
    ("recipients", "deviceTokens"),
    ("apps", "application.id"),
    ("content.body", "alert"),
    ("content.data", "keys"),
    ("content.media", "media"),
    ("content.deeplink", "url"),
    ("content", "message"),
    ("audience.filter.tags.any", "inclusionTags"),
    ("audience.filter.tags.none", "exclusionTags"),
    ("exclude_lists", "exclusionListIds"),
    ("schedule", "sendTime"),
    ("throttle.messages", "messagesPerPeriod"),
    ("throttle.per_minutes", "minutesPerPeriod"),
)


def from_domain(exc: DomainError) -> SfmcError:
    """A core error as one line of the errors list, naming the sfmc field."""
    field = exc.field
    if field is not None:
        for prefix, name in _FIELD_NAMES:
            if field == prefix or field.startswith((prefix + ".", prefix + "[")):
                field = name + field[len(prefix) :]
                break
    status = 403 if exc.code == "FORBIDDEN" else 400
    return SfmcError(status, [f"{field}: {exc.message}" if field else exc.message])
