"""The registry: apps and provider credentials, API keys, contacts and installations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from clarion.console import queries
from clarion.console.context import Console, checked_form, signed_in, text
from clarion.store.keys import split_key

router = APIRouter(include_in_schema=False)

SCOPES = ("admin", "registry", "send", "read")
#: Provider secret files are small; anything larger is not a key.
MAX_SECRET_FILE = 64 * 1024
PAGE = 25


async def _apps(console: Console) -> list[dict[str, Any]]:
    answer = await console.api.get("/v1/apps", limit=100)
    apps = list(answer.body.get("data", [])) if answer.ok else []
    for app in apps:
        providers = await console.api.get(f"/v1/apps/{app['id']}/providers")
        app["credentials"] = providers.body.get("data", []) if providers.ok else []
    return apps


async def _page(console: Console, status: int = 200, **values: Any) -> Response:
    keys: list[Any] = []
    if console.can("admin") and console.all_apps:
        answer = await console.api.get("/v1/keys")
        keys = list(answer.body.get("data", [])) if answer.ok else []
    values.setdefault("message", None)
    values.setdefault("error", None)
    values.setdefault("new_key", None)
    parts = split_key(console.session.key)
    values["session_key_id"] = parts[0] if parts else None
    return console.render(
        "registry.html", status, apps=await _apps(console), keys=keys, scopes=SCOPES, **values
    )


@router.get("/registry")
async def registry(console: Console = Depends(signed_in)) -> Response:
    """Apps, their provider credentials and the project's keys."""
    return await _page(console)


@router.post("/registry/apps")
async def create_app(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Create an app."""
    form = await checked_form(request, console.session)
    answer = await console.api.post(
        "/v1/apps", {"id": text(form, "id"), "name": text(form, "name") or text(form, "id")}
    )
    if not answer.ok:
        return await _page(console, answer.status, error=answer.error)
    return RedirectResponse("/registry?created=app", status_code=303)


async def _file_text(form: FormData, name: str) -> str | None:
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        return None
    data = await upload.read(MAX_SECRET_FILE + 1)
    if not data:
        return None
    if len(data) > MAX_SECRET_FILE:
        raise ValueError(f"{name}: the file is larger than {MAX_SECRET_FILE // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: the file is not UTF-8 text") from None


@router.post("/registry/apps/{app_id}/{provider}")
async def put_credentials(
    app_id: str, provider: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    """Upload APNs or FCM credentials, or set up Web Push with a generated VAPID key pair."""
    form = await checked_form(request, console.session)
    try:
        if provider == "apns":
            body: dict[str, Any] = {
                "team_id": text(form, "team_id"),
                "key_id": text(form, "key_id"),
                "topic": text(form, "topic"),
                "environment": text(form, "environment") or "production",
                "private_key": await _file_text(form, "p8"),
            }
            if text(form, "endpoint"):
                body["endpoint"] = text(form, "endpoint")
        elif provider == "fcm":
            body = {"service_account": await _file_text(form, "service_account")}
            if body["service_account"] is None:
                raise ValueError("service_account: choose the service-account JSON file")
        elif provider == "webpush":
            body = {"subject": text(form, "subject")}
        else:
            return await _page(console, 404, error="unknown provider")
    except ValueError as exc:
        return await _page(console, 400, error=str(exc))
    answer = await console.api.put(f"/v1/apps/{app_id}/providers/{provider}", body)
    if not answer.ok:
        return await _page(console, answer.status, error=f"{provider}: {answer.error}")
    return RedirectResponse(f"/registry?saved={provider}#app-{app_id}", status_code=303)


@router.post("/registry/keys")
async def create_key(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Create an API key; its secret is shown on this one answer and never again."""
    form = await checked_form(request, console.session)
    scopes = [s for s in form.getlist("scope") if isinstance(s, str) and s in SCOPES]
    body: dict[str, Any] = {"name": text(form, "name")[:200], "scopes": scopes}
    apps = [a for a in form.getlist("app") if isinstance(a, str) and a]
    if apps:
        body["app_ids"] = apps
    answer = await console.api.post("/v1/keys", body)
    if not answer.ok:
        return await _page(console, answer.status, error=answer.error)
    return await _page(console, 201, new_key=answer.body)


@router.post("/registry/keys/{key_id}/revoke")
async def revoke_key(
    key_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    """Revoke an API key."""
    await checked_form(request, console.session)
    answer = await console.api.delete(f"/v1/keys/{key_id}")
    if not answer.ok:
        return await _page(console, answer.status, error=answer.error)
    return RedirectResponse("/registry?revoked=1#keys", status_code=303)


@router.get("/registry/contacts")
async def contacts(console: Console = Depends(signed_in)) -> Response:
    """Contacts and installations, a page at a time."""
    cursor = console.param("cursor", 400)
    after = console.position("after")
    answer = await console.api.get("/v1/contacts", limit=PAGE, cursor=cursor)
    people = answer.body.get("data", []) if answer.ok else []
    async with console.state.engine.connect() as conn:
        devices = await queries.browse_installations(
            conn, console.project_id, console.principal.app_ids, after, PAGE
        )
    return console.render(
        "contacts.html",
        contacts=people,
        contacts_error=None if answer.ok else answer.error,
        next_cursor=answer.body.get("next_cursor") if answer.ok else None,
        devices=devices,
        next_after=devices[-1]["pk"] if len(devices) == PAGE else None,
    )
