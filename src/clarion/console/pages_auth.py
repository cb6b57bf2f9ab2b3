"""Sign-in with an API key (or the admin key and a project), one-time links, sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from clarion.api.errors import ApiError
from clarion.api.state import state_from
from clarion.console.context import (
    BadForm,
    checked_form,
    client_of,
    principal_of,
    render,
    secured,
    text,
)
from clarion.console.inprocess import ApiClient
from clarion.console.session import (
    SIGNIN_COOKIE,
    clear_session,
    new_session,
    read_session,
    same_token,
    set_signin_cookie,
    signin_token,
    write_session,
)
from clarion.console.setup import setup_of

router = APIRouter(include_in_schema=False)


def _signin_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = signin_token(request)
    response = render(request, "signin.html", status, error=error, token=token)
    set_signin_cookie(response, request, token)
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    """The sign-in form (a browser already signed in goes to the overview)."""
    state = state_from(request)
    session = read_session(request, state.secrets)
    if session is not None and await principal_of(state, request, session.key) is not None:
        return RedirectResponse("/", status_code=303)
    expired = request.query_params.get("expired")
    return _signin_page(request, "Your session ended; sign in again." if expired else None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the key and open a session."""
    state = state_from(request)
    form = await request.form(max_files=0, max_fields=10)
    if not same_token(request.cookies.get(SIGNIN_COOKIE), text(form, "csrf")):
        return _signin_page(request, "The form expired; please try again.", 400)
    key = text(form, "key")
    if not key or len(key) > 512:
        return _signin_page(request, "Enter an API key.", 400)
    try:
        principal = await principal_of(state, request, key)
    except ApiError:
        return _signin_page(request, "Too many failed attempts; wait a minute.", 429)
    if principal is None:
        return _signin_page(request, "This key is not valid.", 401)
    response = RedirectResponse("/" if principal.project_id else "/project", status_code=303)
    write_session(response, request, state.secrets, new_session(key, principal.project_id))
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return secured(response)


@router.get("/signin/link/{token}")
async def signin_link(token: str, request: Request) -> Response:
    """A one-time link printed by `clarion serve --demo`: signs in and goes to the overview."""
    state = state_from(request)
    key = setup_of(request).redeem(token)
    if key is None:
        return _signin_page(request, "This sign-in link was already used; enter the key.", 410)
    principal = await principal_of(state, request, key)
    if principal is None:
        return _signin_page(request, "This key is not valid.", 401)
    response = RedirectResponse("/", status_code=303)
    write_session(response, request, state.secrets, new_session(key, principal.project_id))
    return secured(response)


@router.post("/signout")
async def signout(request: Request) -> Response:
    """Close the session."""
    state = state_from(request)
    session = read_session(request, state.secrets)
    if session is not None:
        try:
            await checked_form(request, session)
        except BadForm:
            return secured(Response("the form expired; reload the page", status_code=400))
    response = RedirectResponse("/signin", status_code=303)
    clear_session(response)
    return secured(response)


@router.api_route("/project", methods=["GET", "POST"])
async def pick_project(request: Request) -> Response:
    """The admin key's project picker."""
    state = state_from(request)
    session = read_session(request, state.secrets)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    principal = await principal_of(state, request, session.key)
    if principal is None:
        response = RedirectResponse("/signin", status_code=303)
        clear_session(response)
        return response
    if not principal.server_admin:
        return RedirectResponse("/", status_code=303)
    api = ApiClient(request.app, session.key, None, client_of(request))
    answer = await api.get("/v1/projects", limit=100)
    projects = answer.body.get("data", []) if answer.ok else []
    error = None
    if request.method == "POST":
        try:
            form = await checked_form(request, session)
        except BadForm:
            error = "The form expired; please try again."
        else:
            chosen = text(form, "project")
            if any(project["id"] == chosen for project in projects):
                response = RedirectResponse("/", status_code=303)
                write_session(response, request, state.secrets, session.with_project(chosen))
                return secured(response)
            error = "Choose one of the projects."
    return render(
        request,
        "project.html",
        400 if error else 200,
        projects=projects,
        error=error,
        csrf=session.csrf,
        current=session.project_id,
        console=None,
    )
