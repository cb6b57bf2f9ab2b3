"""The sfmc dialect's error bodies: `{"errors": [...]}` for requests, the token shape for auth."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse

from clarion.api.dialects.kit import Dialect, Kind, Problem, Wording, rename_field
from clarion.domain.errors import DomainError

#: HTTP status of each kind.
STATUS: Final = {
    Kind.UNREADABLE: 400,
    Kind.MISSING: 400,
    Kind.INVALID: 400,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.NO_ROUTE: 404,
    Kind.METHOD_NOT_ALLOWED: 405,
    Kind.CONFLICT: 409,
    Kind.UNSUPPORTED_MEDIA_TYPE: 415,
    Kind.TOO_MANY_REQUESTS: 429,
    Kind.SERVER_ERROR: 500,
    Kind.UNAVAILABLE: 503,
}
#: Kinds answered in the token endpoint's shape.
_AUTH_KINDS: Final = frozenset({Kind.UNAUTHORIZED, Kind.FORBIDDEN})


def bad_request(*messages: str) -> Problem:
    """A 400 listing what is wrong."""
    first, *others = messages
    return Problem(
        Kind.INVALID, first, more=tuple(Problem(Kind.INVALID, message) for message in others)
    )


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


def from_domain(exc: DomainError) -> Problem:
    """A core error as one line of the errors list, naming the sfmc field."""
    field = exc.field
    if field is not None:
        field = rename_field(field, _FIELD_NAMES) or field
    kind = Kind.FORBIDDEN if exc.code == "FORBIDDEN" else Kind.INVALID
    return Problem(kind, f"{field}: {exc.message}" if field else exc.message)


class SfmcShape:
    """Auth failures use the token endpoint's shape; everything else lists its errors."""

    def response(self, problem: Problem, request: Request) -> JSONResponse:
        """The kind's status; the message (auth) or every problem's message (the rest)."""
        body: dict[str, Any]
        if problem.kind in _AUTH_KINDS:
            body = {"message": problem.message, "errorcode": 0, "documentation": ""}
        else:
            body = {"errors": [item.message for item in problem.all()]}
        return JSONResponse(body, status_code=STATUS[problem.kind])


SFMC: Final = Dialect(
    name="sfmc",
    shape=SfmcShape(),
    wording=Wording(
        missing_key="Not Authorized",
        invalid_key="Not Authorized",
        lacks_scope="Insufficient privileges: the token lacks the {scope!r} scope",
        too_many_requests="Too many requests: retry in {retry_after} seconds",
        unavailable="The service is unavailable; try again later.",
        server_error="An internal error occurred; see the server log.",
        no_route="No route {method} {path}.",
        not_json="The request body is not valid JSON.",
        not_object="The request body must be a JSON object.",
    ),
    from_domain=from_domain,
)
