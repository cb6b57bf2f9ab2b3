"""What every console page works with: the session, the caller's rights and the API client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from clarion.api.auth import Principal, verify_credentials
from clarion.api.state import AppState, state_from
from clarion.console.inprocess import ApiClient
from clarion.console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    clear_session,
    read_session,
    same_token,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.autoescape = True


def _when(value: object) -> str:
    """A UTC instant (datetime or ISO text) as `YYYY-MM-DD HH:MM:SS`."""
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str) or not value:
        return "—"
    return value[:19].replace("T", " ")


templates.env.filters["when"] = _when

#: Scripts, styles and images from the console itself only; no inline script or style.
CONSOLE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


class Redirect(Exception):
    """Stop a page and send the browser elsewhere (sign-in, project picker)."""

    def __init__(self, location: str, forget_session: bool = False) -> None:
        super().__init__(location)
        self.location = location
        self.forget_session = forget_session


class BadForm(Exception):
    """A form post without a valid CSRF token."""


def redirect_response(exc: Redirect) -> Response:
    """The 303 for a Redirect."""
    response = RedirectResponse(exc.location, status_code=303)
    if exc.forget_session:
        clear_session(response)
    return response


@dataclass
class Console:
    """A signed-in request: who, in which project, and the API as that key sees it."""

    request: Request
    state: AppState
    session: Session
    principal: Principal
    project_id: str
    api: ApiClient

    def param(self, name: str, limit: int = 256) -> str:
        """A query parameter made safe to search with: no control characters, bounded."""
        return clean(self.request.query_params.get(name, ""))[:limit]

    def position(self, name: str) -> int | None:
        """A numeric paging position from the query, None when absent or not a number."""
        value = self.request.query_params.get(name, "")
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None

    def can(self, scope: str) -> bool:
        """Whether the key holds a scope."""
        return self.principal.allows(scope)

    @property
    def all_apps(self) -> bool:
        """Whether the key reaches every app of the project (needed to manage keys and apps)."""
        return self.principal.app_ids is None

    def render(self, name: str, status: int = 200, **values: Any) -> Response:
        """A full page or fragment from a template, with the console's headers."""
        values |= {"console": self, "csrf": self.session.csrf}
        return render(self.request, name, status, **values)


def render(request: Request, name: str, status: int = 200, **values: Any) -> Response:
    """Render a template with the console's security headers."""
    response = templates.TemplateResponse(request, name, values, status_code=status)
    return secured(response)


def secured(response: Response) -> Response:
    """Add the console's policy and keep pages out of shared caches."""
    response.headers["Content-Security-Policy"] = CONSOLE_POLICY
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


async def principal_of(state: AppState, request: Request, key: str) -> Principal | None:
    """The rights of a presented key (admin or project key), None when refused."""
    stored = await verify_credentials(state, request, key, accept_admin=True)
    if stored is None or isinstance(stored, Principal):
        return stored
    return Principal(stored.project_id, stored.scopes, stored.app_ids)


def client_of(request: Request) -> tuple[str, int] | None:
    """The browser's address, so the API's per-address limits see the real caller."""
    return (request.client.host, request.client.port) if request.client else None


async def signed_in(request: Request) -> Console:
    """Dependency: the signed-in console request, or a redirect to sign in."""
    state = state_from(request)
    session = read_session(request, state.secrets)
    if session is None:
        raise Redirect("/signin")
    principal = await principal_of(state, request, session.key)
    if principal is None:
        raise Redirect("/signin?expired=1", forget_session=True)
    project_id = principal.project_id or session.project_id
    if project_id is None:
        raise Redirect("/project")
    api = ApiClient(
        request.app,
        session.key,
        None if principal.project_id else project_id,
        client_of(request),
    )
    return Console(request, state, session, principal, project_id, api)


async def checked_form(request: Request, session: Session) -> FormData:
    """The posted form, once its CSRF token (field or header) matches the session's."""
    form = await request.form(max_files=4, max_fields=200)
    presented = form.get(CSRF_FIELD)
    token = presented if isinstance(presented, str) else request.headers.get(CSRF_HEADER)
    if not same_token(session.csrf, token):
        raise BadForm
    return form


def clean(value: str) -> str:
    """One line of text without control characters or lone surrogates, trimmed."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", value).strip()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text(form: FormData, name: str, default: str = "") -> str:
    """A one-line text field of a form (files and missing fields give the default)."""
    value = form.get(name)
    return clean(value) if isinstance(value, str) else default
