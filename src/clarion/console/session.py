"""The console session: a sealed, signed cookie holding the key and the chosen project."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from clarion.store.secrets import SecretBox, SecretUnreadable

COOKIE = "clarion_console"
#: The pre-sign-in cookie whose value the sign-in form must echo (login CSRF).
SIGNIN_COOKIE = "clarion_console_signin"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
#: A session lasts a working day; signing in again is cheap.
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """Who is signed in: the presented key, the project acted in and the form token."""

    key: str
    project_id: str | None
    csrf: str
    issued: float

    def with_project(self, project_id: str) -> Session:
        """The same session acting in another project (admin key only)."""
        return Session(self.key, project_id, self.csrf, self.issued)


def new_session(key: str, project_id: str | None) -> Session:
    """A fresh session with its own CSRF token."""
    return Session(key, project_id, secrets.token_urlsafe(32), time.time())


def read_session(request: Request, box: SecretBox) -> Session | None:
    """The request's session, or None when absent, forged or expired."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 4096:
        return None
    try:
        document = box.open(raw.encode("ascii", "replace"))
    except (SecretUnreadable, ValueError):
        return None
    try:
        session = Session(
            str(document["k"]), document.get("p"), str(document["c"]), float(document["t"])
        )
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= time.time() - session.issued <= MAX_AGE_SECONDS:
        return None
    return session


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def write_session(response: Response, request: Request, box: SecretBox, session: Session) -> None:
    """Set the sealed session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
    document = {"k": session.key, "p": session.project_id, "c": session.csrf, "t": session.issued}
    response.set_cookie(
        COOKIE,
        box.seal(document).decode(),
        max_age=MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session(response: Response) -> None:
    """Forget the session cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def signin_token(request: Request) -> str:
    """The token the sign-in form carries: the browser's current one, or a new one."""
    token = request.cookies.get(SIGNIN_COOKIE)
    if not token or len(token) != 43:
        token = secrets.token_urlsafe(32)
    return token


def set_signin_cookie(response: Response, request: Request, token: str) -> None:
    """Keep the sign-in form's token in a short-lived cookie the post must match."""
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def same_token(expected: str | None, presented: str | None) -> bool:
    """Constant-time comparison of two tokens, neither missing."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "replace"))
