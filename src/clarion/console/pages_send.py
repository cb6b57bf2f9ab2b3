"""Compose, review and send; the sends list with live progress; a send's detail and trail."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from clarion.console import queries
from clarion.console.charts import funnel_chart
from clarion.console.context import BadForm, Console, checked_form, signed_in, text
from clarion.console.forms import ComposeForm, FormProblem, audience_fields, send_document
from clarion.console.mockups import shown_devices
from clarion.domain.command import parse_send_command
from clarion.domain.errors import DomainError
from clarion.domain.vocabulary import OPEN_STATUSES, SendStatus
from clarion.store import sends as send_store
from clarion.store.types import utcnow

router = APIRouter(include_in_schema=False)

OPEN = tuple(str(status) for status in OPEN_STATUSES)
PAGE = 25


async def _choices(console: Console) -> dict[str, Any]:
    apps = await console.api.get("/v1/apps", limit=100)
    lists = await console.api.get("/v1/lists", limit=100)
    segments = await console.api.get("/v1/segments", limit=100)
    templates = await console.api.get("/v1/templates", limit=100)

    def data(answer: Any) -> list[Any]:
        return list(answer.body.get("data", [])) if answer.ok else []

    return {
        "apps": data(apps),
        "lists": data(lists),
        "segments": data(segments),
        "templates": [t for t in data(templates) if t.get("status") == "active"],
    }


@router.get("/compose")
async def compose(console: Console = Depends(signed_in)) -> Response:
    """The compose form, with a fresh idempotency key."""
    form = ComposeForm(
        {
            "audience": "contact",
            "contact": console.param("contact"),
            "mode": "content",
            "when": "now",
            "idempotency_key": secrets.token_urlsafe(16),
        }
    )
    return console.render("compose.html", form=form, **await _choices(console))


async def audience_size(console: Console, form: ComposeForm) -> tuple[int | None, str | None]:
    """How many devices the compose form's audience reaches now, or why it cannot tell."""
    try:
        document = audience_fields(form)
    except FormProblem as exc:
        return None, exc.message
    document["content"] = {"body": "-"}
    document.pop("schedule", None)
    try:
        command = parse_send_command(document, console.principal.app_ids, utcnow())
    except DomainError as exc:
        return None, exc.message
    async with console.state.engine.connect() as conn:
        try:
            size = await queries.planned_size(conn, console.project_id, command, utcnow())
        except DomainError as exc:
            return None, exc.message
        except LookupError as exc:
            return None, str(exc)
    return size, None


async def _preview(console: Console, form: ComposeForm) -> dict[str, Any]:
    """The exact provider requests for the sample recipient, from `POST /v1/sends/preview`."""
    try:
        document = send_document(form)
    except FormProblem as exc:
        return {"error": f"{exc.field}: {exc.message}"}
    sample = form.get("sample") or form.get("contact")
    if not sample:
        return {"error": "Give a sample contact to preview what each device receives."}
    body: dict[str, Any] = {"recipient": {"external_id": sample, "all_devices": True}}
    for name in ("content", "contents", "template_id", "params", "options"):
        if name in document:
            body[name] = document[name]
    answer = await console.api.post("/v1/sends/preview", body)
    if not answer.ok:
        return {"error": answer.error}
    return {"devices": shown_devices(answer.body["devices"])}


@router.post("/compose/live")
async def compose_live(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Fragment: the live audience size and the per-platform preview of the form."""
    try:
        form = ComposeForm.from_form(await checked_form(request, console.session))
    except BadForm:
        return console.render("fragments/error.html", 400, error="The form expired; reload it.")
    size, size_error = await audience_size(console, form)
    preview = await _preview(console, form)
    return console.render(
        "fragments/compose_live.html", size=size, size_error=size_error, preview=preview
    )


@router.post("/compose/review")
async def compose_review(request: Request, console: Console = Depends(signed_in)) -> Response:
    """The confirmation: the send body and the audience size, with one Send button."""
    try:
        form = ComposeForm.from_form(await checked_form(request, console.session))
    except BadForm:
        return console.render("fragments/error.html", 400, error="The form expired; reload it.")
    choices = await _choices(console)
    try:
        document = send_document(form)
    except FormProblem as exc:
        return console.render(
            "compose.html", 400, form=form, error=exc.message, error_field=exc.field, **choices
        )
    size, size_error = await audience_size(console, form)
    if size_error is not None:
        return console.render(
            "compose.html", 400, form=form, error=size_error, error_field="audience", **choices
        )
    preview = await _preview(console, form)
    return console.render(
        "review.html",
        form=form,
        document=json.dumps(document, ensure_ascii=False),
        document_text=json.dumps(document, indent=2, ensure_ascii=False),
        size=size,
        preview=preview,
    )


@router.post("/compose/send")
async def compose_send(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Send the reviewed body once: the compose's idempotency key makes a repeat harmless."""
    try:
        form = await checked_form(request, console.session)
    except BadForm:
        return console.render("fragments/error.html", 400, error="The form expired; reload it.")
    key = text(form, "idempotency_key")[:200] or secrets.token_urlsafe(16)
    try:
        document = json.loads(text(form, "document"))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return console.render("fragments/error.html", 400, error="The send body is missing.")
    answer = await console.api.post("/v1/sends", document, headers={"Idempotency-Key": key})
    if not answer.ok:
        return console.render(
            "fragments/error.html", answer.status, error=answer.error, back="/compose", page=True
        )
    return RedirectResponse(f"/sends/{answer.body['id']}", status_code=303)


def progress_of(send: dict[str, Any]) -> dict[str, Any]:
    """How far a send has come: done devices out of targeted, and whether it is still open."""
    counts = send.get("counts", {})
    targeted = int(counts.get("targeted", 0))
    pending = int(counts.get("pending", 0)) + int(counts.get("throttled", 0))
    finished = max(targeted - pending, 0)
    percent = 100 if send["status"] not in OPEN else (finished * 100 // targeted if targeted else 0)
    return {
        "targeted": targeted,
        "finished": finished,
        "percent": percent,
        "open": send["status"] in OPEN,
    }


async def _sends_with_counts(console: Console, status: str, cursor: str) -> tuple[list[Any], Any]:
    answer = await console.api.get("/v1/sends", limit=PAGE, status=status, cursor=cursor)
    if not answer.ok:
        return [], None
    rows = []
    for send in answer.body["data"]:
        detail = await console.api.get(f"/v1/sends/{send['id']}")
        if detail.ok:
            send = detail.body
        send["progress"] = progress_of(send)
        send["title"] = await _title_of(console, send["id"])
        rows.append(send)
    return rows, answer.body.get("next_cursor")


async def _title_of(console: Console, send_id: str) -> str:
    async with console.state.engine.connect() as conn:
        row = await send_store.get_send(conn, send_id)
    if row is None:
        return ""
    message = (row["request"] or {}).get("message") or {}
    content = message.get("content") or next(iter(message.get("contents") or []), None) or {}
    if isinstance(content, dict):
        return str(content.get("title") or content.get("body") or "")
    return ""


@router.get("/sends")
async def sends_page(console: Console = Depends(signed_in)) -> Response:
    """The project's sends, newest first, with live progress."""
    status = console.param("status", 16)
    cursor = console.param("cursor", 400)
    rows, next_cursor = await _sends_with_counts(console, status, cursor)
    return console.render(
        "sends.html", sends=rows, status_filter=status, next_cursor=next_cursor, statuses=_STATUSES
    )


_STATUSES = tuple(str(status) for status in SendStatus)


@router.get("/sends/{send_id}/progress")
async def send_progress(send_id: str, console: Console = Depends(signed_in)) -> Response:
    """Fragment: one send's status and progress bar (polled while the send is open)."""
    answer = await console.api.get(f"/v1/sends/{send_id}")
    if not answer.ok:
        return console.render("fragments/error.html", answer.status, error=answer.error)
    send = answer.body
    send["progress"] = progress_of(send)
    return console.render("fragments/progress.html", send=send)


@router.get("/sends/{send_id}")
async def send_detail(send_id: str, console: Console = Depends(signed_in)) -> Response:
    """A send: status, funnel, outcomes by platform and reason, and the searchable trail."""
    answer = await console.api.get(f"/v1/sends/{send_id}")
    if not answer.ok:
        return console.render("fragments/error.html", answer.status, error=answer.error, page=True)
    send = answer.body
    send["progress"] = progress_of(send)
    search = console.param("q")
    after = console.position("after")
    async with console.state.engine.connect() as conn:
        outcomes = await queries.outcomes_by_platform(conn, send_id)
        trail = await queries.search_trail(conn, send_id, search, after, PAGE)
    counts = send.get("counts", {})
    funnel = funnel_chart(
        [
            ("targeted", int(counts.get("targeted", 0))),
            ("sent", int(counts.get("sent", 0))),
            ("opened", int(counts.get("opened", 0))),
            ("clicked", int(counts.get("clicked", 0))),
        ]
    )
    return console.render(
        "send_detail.html",
        send=send,
        title=await _title_of(console, send_id),
        funnel=funnel,
        outcomes=outcomes,
        trail=trail,
        search=search,
        next_after=trail[-1]["id"] if len(trail) == PAGE else None,
    )


@router.post("/sends/{send_id}/cancel")
async def cancel(send_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    """Cancel a scheduled or running send."""
    try:
        await checked_form(request, console.session)
    except BadForm:
        return console.render("fragments/error.html", 400, error="The form expired; reload it.")
    answer = await console.api.post(f"/v1/sends/{send_id}/cancel")
    if not answer.ok:
        return console.render("fragments/error.html", answer.status, error=answer.error, page=True)
    return RedirectResponse(f"/sends/{send_id}", status_code=303)
