"""Templates at send time: validate their contents, check they are usable, merge them into a send.

A send naming `template_id` takes the template's per-language contents as its
`contents`; its options start from the template's default options and every option
the request gives explicitly wins (the `webpush` options are merged one level
deeper, key by key). A template is usable when its status is `active` and `now` is
inside its validity window (`start_at` included, `end_at` excluded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.command import check_message
from clarion.domain.errors import MALFORMED_PARAMETER, DomainError
from clarion.domain.message import parse_message
from clarion.domain.vocabulary import ErrorCode
from clarion.store import templates as template_store

TEMPLATE_INACTIVE: Final = ErrorCode.TEMPLATE_INACTIVE
TEMPLATE_OUT_OF_WINDOW: Final = ErrorCode.TEMPLATE_OUT_OF_WINDOW
TEMPLATE_FIELD: Final = "template_id"


def normalized_template(
    contents: Any, options: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Validate a template's contents and default options as a send would be validated.

    Raises DomainError with the field at fault (for example "contents[1].title" with
    the line and column of a Liquid syntax error). Returns the JSON forms to store.
    """
    message = parse_message({"contents": contents, "options": options or {}})
    check_message(message, "contents")
    assert message.contents is not None
    stored_contents = [
        content.model_dump(mode="json", exclude_defaults=True) for content in message.contents
    ]
    stored_options = message.options.model_dump(mode="json", exclude_defaults=True)
    return stored_contents, stored_options


def check_usable(row: dict[str, Any], now: datetime) -> None:
    """Refuse a template that is not active or not valid at `now`."""
    status = row["status"]
    if status == template_store.DELETED:
        raise DomainError(ErrorCode.NOT_FOUND, "template not found", TEMPLATE_FIELD)
    if status != "active":
        raise DomainError(
            TEMPLATE_INACTIVE, f"the template is {status}, not active", TEMPLATE_FIELD
        )
    start_at, end_at = row["start_at"], row["end_at"]
    if start_at is not None and now < start_at:
        raise DomainError(
            TEMPLATE_OUT_OF_WINDOW,
            f"the template is valid from {start_at.isoformat()}",
            TEMPLATE_FIELD,
        )
    if end_at is not None and now >= end_at:
        raise DomainError(
            TEMPLATE_OUT_OF_WINDOW,
            f"the template expired at {end_at.isoformat()}",
            TEMPLATE_FIELD,
        )


async def template_document(
    conn: AsyncConnection, project_id: str, template_id: str, now: datetime
) -> dict[str, Any]:
    """The template's `{"contents": [...], "options": {...}}`, ready to merge into a send.

    Raises DomainError NOT_FOUND (missing or deleted), TEMPLATE_INACTIVE (draft or
    inactive) or TEMPLATE_OUT_OF_WINDOW, all on the field "template_id".
    """
    row = await template_store.get_template(conn, project_id, template_id)
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "template not found", TEMPLATE_FIELD)
    check_usable(row, now)
    return {"contents": list(row["contents"]), "options": dict(row["options"])}


def merge_options(defaults: dict[str, Any], explicit: dict[str, Any] | None) -> dict[str, Any]:
    """Template default options overridden by the request's explicit ones."""
    merged = dict(defaults)
    for key, value in (explicit or {}).items():
        if key == "webpush" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def refuse_inline_content(document: dict[str, Any]) -> None:
    """A send naming a template may not also carry its own content."""
    for name in ("content", "contents"):
        if document.get(name) is not None:
            raise DomainError(
                MALFORMED_PARAMETER,
                f"{name} cannot be combined with template_id: the template gives the contents",
                name,
            )


def apply_template(document: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """A send document whose content comes from `template` (see template_document)."""
    refuse_inline_content(document)
    expanded = {key: value for key, value in document.items() if key != TEMPLATE_FIELD}
    expanded["contents"] = template["contents"]
    expanded["options"] = merge_options(template["options"], document.get("options"))
    return expanded


async def expand_template(
    conn: AsyncConnection, project_id: str, document: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The send document with its `template_id` replaced by the template's contents."""
    template_id = document.get(TEMPLATE_FIELD)
    if template_id is None:
        return document
    if not isinstance(template_id, str) or not template_id:
        raise DomainError(MALFORMED_PARAMETER, "template_id must be a string", TEMPLATE_FIELD)
    refuse_inline_content(document)
    return apply_template(document, await template_document(conn, project_id, template_id, now))
