"""Templates (editor with Liquid error marks and live preview), segments and lists."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from clarion.api.v1.lists import MAX_IDS_PER_REQUEST, iter_csv_ids
from clarion.console import queries
from clarion.console.context import Console, checked_form, signed_in, text
from clarion.console.mockups import shown_devices
from clarion.domain.command import parse_send_command
from clarion.domain.errors import DomainError
from clarion.domain.personalize import RenderLimitError, TemplateSyntaxError
from clarion.sending.templates import normalized_template
from clarion.store.types import utcnow

router = APIRouter(include_in_schema=False)

FIELDS = ("title", "subtitle", "body")
_POSITION = re.compile(r"line (\d+), column (\d+)")
_CONTENT_FIELD = re.compile(r"^contents\[(\d+)\]\.(\w+)")
#: CSV files larger than this are refused before reading (about a million ids).
MAX_CSV_BYTES = 32 * 1024 * 1024


# ---- templates -------------------------------------------------------------------------


def _template_form(form: FormData) -> dict[str, Any]:
    """The editor's fields: name, status and the fallback content (title, subtitle, body)."""
    values = {name: text(form, name) for name in ("name", "status", "sample", "params")}
    for name in FIELDS:
        raw = form.get(name)
        values[name] = raw if isinstance(raw, str) else ""
    return values


def _contents(values: dict[str, Any]) -> list[dict[str, Any]]:
    content = {name: values[name] for name in FIELDS if values.get(name)}
    return [content]


def mark_of(
    values: dict[str, Any], field: str | None, message: str, index: int = 0
) -> dict[str, Any] | None:
    """Where a Liquid error is: the field, its line and column, and that line with a caret.

    Only an error in the edited content (`contents[index]`) is marked in the editor.
    """
    position = _POSITION.search(message)
    match = _CONTENT_FIELD.match(field or "")
    name = match.group(2) if match and int(match.group(1)) == index else None
    if position is None or name not in FIELDS:
        return None
    line, column = int(position.group(1)), int(position.group(2))
    lines = str(values.get(name, "")).splitlines() or [""]
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    return {
        "field": name,
        "line": line,
        "column": column,
        "source": shown,
        "caret": " " * max(column - 1, 0) + "^",
        "message": message,
    }


def check_template(values: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """Validate the contents as the API will: the error and its mark, or (None, None)."""
    try:
        normalized_template(_contents(values), None)
    except (TemplateSyntaxError, RenderLimitError) as exc:
        return exc.message, mark_of(values, exc.field, exc.message)
    except DomainError as exc:
        return (f"{exc.field}: {exc.message}" if exc.field else exc.message), None
    return None, None


async def _template_preview(console: Console, values: dict[str, Any]) -> dict[str, Any]:
    sample = values.get("sample")
    if not sample:
        return {"error": "Give a sample contact to preview the rendered notification."}
    try:
        params = json.loads(values["params"]) if values.get("params") else {}
    except ValueError:
        return {"error": "params: not valid JSON"}
    body: dict[str, Any] = {
        "recipient": {"external_id": sample, "all_devices": True},
        "contents": _contents(values),
    }
    if isinstance(params, dict) and params:
        body["params"] = params
    answer = await console.api.post("/v1/sends/preview", body)
    if not answer.ok:
        return {"error": answer.error}
    return {"devices": shown_devices(answer.body["devices"])}


@router.get("/templates")
async def templates_page(console: Console = Depends(signed_in)) -> Response:
    """The project's templates."""
    answer = await console.api.get("/v1/templates", limit=100)
    rows = answer.body.get("data", []) if answer.ok else []
    return console.render("templates.html", templates=rows)


@router.get("/templates/new")
async def new_template(console: Console = Depends(signed_in)) -> Response:
    """An empty editor."""
    values = {
        "name": "",
        "status": "active",
        "title": "",
        "subtitle": "",
        "body": "",
        "sample": "",
        "params": "",
    }
    return console.render(
        "template_edit.html", template_id=None, values=values, error=None, mark=None
    )


@router.get("/templates/{template_id}")
async def edit_template(template_id: str, console: Console = Depends(signed_in)) -> Response:
    """The editor for a stored template (its fallback content)."""
    answer = await console.api.get(f"/v1/templates/{template_id}")
    if not answer.ok:
        return console.render("fragments/error.html", answer.status, error=answer.error, page=True)
    row = answer.body
    fallback = next((c for c in row["contents"] if not c.get("language")), row["contents"][0])
    values = {name: fallback.get(name, "") for name in FIELDS}
    values |= {"name": row["name"], "status": row["status"], "sample": "", "params": ""}
    languages = [c["language"] for c in row["contents"] if c.get("language")]
    return console.render(
        "template_edit.html",
        template_id=template_id,
        values=values,
        error=None,
        mark=None,
        languages=languages,
    )


async def _merged_contents(
    console: Console, template_id: str, values: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """The stored contents with the edited fallback's texts replaced; others kept as they are."""
    answer = await console.api.get(f"/v1/templates/{template_id}")
    if not answer.ok:
        return _contents(values), 0
    contents = [dict(content) for content in answer.body["contents"]]
    index = next((i for i, c in enumerate(contents) if not c.get("language")), 0)
    kept = {name: value for name, value in contents[index].items() if name not in FIELDS}
    contents[index] = kept | _contents(values)[0]
    return contents, index


@router.post("/templates/check")
async def check(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Fragment: the Liquid error mark (line and column) and the live preview."""
    values = _template_form(await checked_form(request, console.session))
    error, mark = check_template(values)
    preview = None if error else await _template_preview(console, values)
    return console.render("fragments/template_check.html", error=error, mark=mark, preview=preview)


@router.post("/templates/save")
async def save(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Create or replace a template through the API."""
    form = await checked_form(request, console.session)
    values = _template_form(form)
    template_id = text(form, "template_id")[:64] or None
    body: dict[str, Any] = {"name": values["name"], "status": values["status"] or "active"}
    index = 0
    if template_id:
        # A patch keeps the other languages, the options and the validity window.
        body["contents"], index = await _merged_contents(console, template_id, values)
        answer = await console.api.patch(f"/v1/templates/{template_id}", body)
    else:
        body["contents"] = _contents(values)
        answer = await console.api.post("/v1/templates", body)
    if not answer.ok:
        message = answer.error
        return console.render(
            "template_edit.html",
            answer.status,
            template_id=template_id,
            values=values,
            error=message,
            mark=mark_of(values, answer.field, message, index),
        )
    return RedirectResponse(f"/templates/{answer.body['id']}?saved=1", status_code=303)


# ---- segments --------------------------------------------------------------------------


def _segment_filter(form: FormData) -> dict[str, Any]:
    """The filter the builder's fields describe (platforms, apps, languages, tags...)."""
    result: dict[str, Any] = {}
    platforms = [p for p in form.getlist("platform") if isinstance(p, str) and p]
    if platforms:
        result["platforms"] = platforms
    for name in ("apps", "languages", "timezones"):
        values = [v.strip() for v in text(form, name).split(",") if v.strip()]
        if values:
            result[name] = values
    tags: dict[str, list[str]] = {}
    for mode in ("any", "all", "none"):
        values = [v.strip() for v in text(form, f"tags_{mode}").split(",") if v.strip()]
        if values:
            tags[mode] = values
    if tags:
        result["tags"] = tags
    within = text(form, "engaged_within_days")
    if within.isdigit():
        result["last_engaged"] = {"within_days": int(within)}
    if text(form, "has_email") == "yes":
        result["has_email"] = True
    return result


async def _segment_count(
    console: Console, segment_filter: dict[str, Any]
) -> tuple[int | None, str | None]:
    document = {"audience": {"filter": segment_filter}, "content": {"body": "-"}}
    try:
        command = parse_send_command(document, console.principal.app_ids, utcnow())
        async with console.state.engine.connect() as conn:
            return await queries.planned_size(conn, console.project_id, command, utcnow()), None
    except DomainError as exc:
        return None, f"{exc.field}: {exc.message}" if exc.field else exc.message


@router.get("/segments")
async def segments_page(console: Console = Depends(signed_in)) -> Response:
    """The segments and the filter builder."""
    answer = await console.api.get("/v1/segments", limit=100)
    rows = answer.body.get("data", []) if answer.ok else []
    return console.render("segments.html", segments=rows, error=None)


@router.post("/segments/count")
async def segment_count(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Fragment: how many reachable devices the builder's filter matches now."""
    segment_filter = _segment_filter(await checked_form(request, console.session))
    size, error = await _segment_count(console, segment_filter)
    return console.render(
        "fragments/segment_count.html",
        size=size,
        error=error,
        filter_text=json.dumps(segment_filter, indent=2),
    )


@router.post("/segments")
async def create_segment(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Save the builder's filter as a segment."""
    form = await checked_form(request, console.session)
    answer = await console.api.post(
        "/v1/segments", {"name": text(form, "name"), "filter": _segment_filter(form)}
    )
    if not answer.ok:
        listing = await console.api.get("/v1/segments", limit=100)
        rows = listing.body.get("data", []) if listing.ok else []
        return console.render("segments.html", answer.status, segments=rows, error=answer.error)
    return RedirectResponse("/segments?saved=1", status_code=303)


# ---- lists -----------------------------------------------------------------------------


async def _lists_page(console: Console, status: int = 200, **values: Any) -> Response:
    answer = await console.api.get("/v1/lists", limit=100)
    rows = answer.body.get("data", []) if answer.ok else []
    values.setdefault("error", None)
    return console.render("lists.html", status, lists=rows, **values)


@router.get("/lists")
async def lists_page(console: Console = Depends(signed_in)) -> Response:
    """The project's lists, with CSV upload."""
    return await _lists_page(console)


@router.post("/lists")
async def create_list(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Create a list."""
    form = await checked_form(request, console.session)
    answer = await console.api.post("/v1/lists", {"name": text(form, "name")})
    if not answer.ok:
        return await _lists_page(console, answer.status, error=answer.error)
    return RedirectResponse("/lists", status_code=303)


@router.post("/lists/{list_id}/upload")
async def upload(list_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    """Add the external ids of a CSV file to a list, in API-sized batches."""
    form = await checked_form(request, console.session)
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile):
        return await _upload_error(console, "file: choose a CSV file")
    data = await upload_file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        return await _upload_error(console, "file: larger than 32 MiB; split it")
    try:
        lines = io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        return await _upload_error(console, "file: the CSV must be UTF-8")
    added, batch = 0, []
    try:
        for external_id in iter_csv_ids(lines):
            batch.append(external_id)
            if len(batch) == MAX_IDS_PER_REQUEST:
                added += await _add(console, list_id, batch)
                batch = []
        if batch:
            added += await _add(console, list_id, batch)
    except (ValueError, csv.Error) as exc:
        return await _upload_error(console, str(exc))
    return RedirectResponse(f"/lists?added={added}&list={list_id}", status_code=303)


async def _add(console: Console, list_id: str, batch: list[str]) -> int:
    answer = await console.api.post(f"/v1/lists/{list_id}/members", {"external_ids": batch})
    if not answer.ok:
        raise ValueError(answer.error)
    return int(answer.body["added"])


async def _upload_error(console: Console, message: str) -> Response:
    response = await _lists_page(console, 400, error=message)
    response.headers["X-Console-Error"] = message.encode("ascii", "replace").decode()[:300]
    return response
