"""What can go wrong on a dialect's paths, as kinds each dialect answers in its own shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from fastapi import Request, Response

from clarion.domain.errors import MISSING_PARAMETER, DomainError


class Kind(Enum):
    """The failures every dialect can answer; each shape gives them its status and name."""

    UNREADABLE = "unreadable"  # 400: the body is not JSON (or XML), or not an object
    MISSING = "missing"  # 400: a required field is absent
    INVALID = "invalid"  # 400: a field's value is wrong
    UNAUTHORIZED = "unauthorized"  # 401: no credential, or an unknown one
    FORBIDDEN = "forbidden"  # 403: the credential may not do this
    NOT_FOUND = "not_found"  # 404: something the request names does not exist
    NO_ROUTE = "no_route"  # 404: nothing answers this path
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405: the path answers other methods
    CONFLICT = "conflict"  # 409: an idempotency key reused for another request
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 415
    TOO_MANY_REQUESTS = "too_many_requests"  # 429, with Retry-After
    SERVER_ERROR = "server_error"  # 500
    UNAVAILABLE = "unavailable"  # 503: the database cannot serve now, with Retry-After


class Problem(Exception):
    """A failure to answer in the dialect's error shape.

    `code` is the dialect's own error name when its kind alone does not decide it;
    `more` holds further problems answered together (a list of errors in one body).
    """

    def __init__(
        self,
        kind: Kind,
        message: str,
        field: str | None = None,
        *,
        code: str | None = None,
        retry_after: int | None = None,
        more: tuple[Problem, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.code = code
        self.retry_after = retry_after
        self.more = more

    def all(self) -> tuple[Problem, ...]:
        """This problem followed by those answered with it."""
        return (self, *self.more)

    def __repr__(self) -> str:
        return f"Problem({self.kind.name}, {self.message!r}, {self.field!r})"


class ErrorShape(Protocol):
    """How a dialect writes a problem: status, body and media type (Retry-After is the kit's)."""

    def response(self, problem: Problem, request: Request) -> Response:
        """The HTTP answer carrying `problem`."""
        ...


@dataclass(frozen=True)
class Wording:
    """The texts of the failures the kit itself detects, as the dialect words them.

    `lacks_scope` may name `{scope}`; `too_many_requests`, when set, `{retry_after}`
    (unset: the throttle's own message); `no_route` and `method_not_allowed` may
    name `{method}` and `{path}`. `body_field` names an unsafe value found at the
    top of the body.
    """

    missing_key: str
    invalid_key: str
    lacks_scope: str
    unavailable: str
    server_error: str
    no_route: str
    not_json: str = "the request body is not valid JSON"
    not_object: str = "the request body must be a JSON object"
    body_field: str | None = "body"
    method_not_allowed: str = "{method} is not allowed on {path}"
    too_many_requests: str | None = None
    unknown_app: str = "the app is not valid"
    other_app: str = "this key may not send for this app"


@dataclass(frozen=True)
class Dialect:
    """What a dialect declares to the kit: its name, error shape, wording and core-error mapping.

    `from_domain` turns a core rule violation into the dialect's problem, naming the
    field as the dialect spells it.
    """

    name: str
    shape: ErrorShape
    wording: Wording
    from_domain: Callable[[DomainError], Problem]


def kind_of(error: DomainError) -> Kind:
    """The usual kind of a core error: missing, forbidden, not found, else invalid."""
    if error.code == MISSING_PARAMETER:
        return Kind.MISSING
    if error.code == "FORBIDDEN":
        return Kind.FORBIDDEN
    if error.code == "NOT_FOUND":
        return Kind.NOT_FOUND
    return Kind.INVALID


def answer(dialect: Dialect, problem: Problem, request: Request) -> Response:
    """The dialect's response for a problem, with Retry-After when the problem has one."""
    response = dialect.shape.response(problem, request)
    if problem.retry_after is not None:
        response.headers["Retry-After"] = str(problem.retry_after)
    return response
