"""Segments: the compilation of a segment filter to SQL, and the `segments` table."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import FromClause

from clarion.domain.segment_filter import AttributeValue, SegmentFilter, TagCondition
from clarion.store.metadata import metadata
from clarion.store.pagination import key_param
from clarion.store.types import UtcDateTime, utcnow

segments = Table(
    "segments",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("filter", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_segments_project_pk", "project_id", "pk"),
)


class FilterSources:
    """The tables a filter reads: installations, their app, their contact (outer-joined)."""

    def __init__(self, installations: FromClause, apps: FromClause, contacts: FromClause) -> None:
        self.installations = installations
        self.apps = apps
        self.contacts = contacts


def compile_filter(
    flt: SegmentFilter, sources: FilterSources, dialect: str, now: datetime
) -> ColumnElement[bool]:
    """The WHERE clause selecting the installations a filter matches."""
    inst, app, contact = sources.installations.c, sources.apps.c, sources.contacts.c
    clauses: list[ColumnElement[bool]] = []
    if flt.platforms is not None:
        clauses.append(inst.platform.in_(flt.platforms))
    if flt.apps is not None:
        clauses.append(app.id.in_(flt.apps))
    if flt.languages is not None:
        language = func.lower(func.coalesce(inst.language, contact.language))
        clauses.append(or_(*(or_(language == p, language.like(p + "-%")) for p in flt.languages)))
    if flt.timezones is not None:
        clauses.append(func.coalesce(inst.timezone, contact.timezone, "UTC").in_(flt.timezones))
    if flt.tags is not None:
        clauses.extend(_tag_clauses(flt.tags, inst.tags, dialect))
    for key, value in (flt.contact_attributes or {}).items():
        clauses.append(_json_equals(contact.attributes, key, value, dialect))
    for key, value in (flt.installation_attributes or {}).items():
        clauses.append(_json_equals(inst.attributes, key, value, dialect))
    if flt.last_engaged is not None:
        engaged = inst.last_engaged_at
        if flt.last_engaged.before is not None:
            clauses.append(engaged < flt.last_engaged.before)
        if flt.last_engaged.after is not None:
            clauses.append(engaged > flt.last_engaged.after)
        if flt.last_engaged.within_days is not None:
            clauses.append(engaged >= now - timedelta(days=flt.last_engaged.within_days))
    if flt.has_email is not None:
        clauses.append(contact.email.is_not(None) if flt.has_email else contact.email.is_(None))
    if flt.has_phone is not None:
        clauses.append(contact.phone.is_not(None) if flt.has_phone else contact.phone.is_(None))
    return and_(true(), *clauses)


def _tag_clauses(tags: TagCondition, column: Any, dialect: str) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if dialect == "postgresql":
        as_jsonb = cast(column, JSONB)
        if tags.any is not None:
            clauses.append(as_jsonb.has_any(cast(tags.any, _text_array())))
        if tags.all is not None:
            clauses.append(as_jsonb.has_all(cast(tags.all, _text_array())))
        if tags.none is not None:
            clauses.append(not_(as_jsonb.has_any(cast(tags.none, _text_array()))))
        return clauses

    def matching(values: list[str]) -> Any:
        each = func.json_each(column).table_valued("value")
        return select(func.count(func.distinct(each.c.value))).where(each.c.value.in_(values))

    if tags.any is not None:
        clauses.append(matching(tags.any).scalar_subquery() > 0)
    if tags.all is not None:
        clauses.append(matching(tags.all).scalar_subquery() == len(set(tags.all)))
    if tags.none is not None:
        clauses.append(matching(tags.none).scalar_subquery() == 0)
    return clauses


def _text_array() -> Any:
    return ARRAY(String)


def _json_equals(column: Any, key: str, value: AttributeValue, dialect: str) -> ColumnElement[bool]:
    """`column[key] == value` with the JSON type checked, so "5" never equals 5."""
    if dialect == "postgresql":
        kind = func.json_typeof(column[key])
        text = column[key].as_string()
        if isinstance(value, bool):
            return and_(kind == "boolean", text == ("true" if value else "false"))
        if isinstance(value, str):
            return and_(kind == "string", text == value)
        # The cast only runs on numbers, so a text attribute can never make it fail.
        return case((kind == "number", cast(text, Numeric)), else_=None) == value
    # Names never hold a quote or backslash (checked when parsing), so quoting is enough.
    path = '$."' + key + '"'
    kind = func.json_type(column, path)
    extracted = func.json_extract(column, path)
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, str):
        return and_(kind == "text", extracted == value)
    return and_(kind.in_(("integer", "real")), extracted == value)


def new_segment_id() -> str:
    """An unguessable segment id."""
    return "seg_" + secrets.token_hex(12)


async def create_segment(
    conn: AsyncConnection, project_id: str, name: str, flt: SegmentFilter
) -> dict[str, Any]:
    """Insert a segment and return it."""
    now = utcnow()
    segment_id = new_segment_id()
    await conn.execute(
        segments.insert().values(
            id=segment_id,
            project_id=project_id,
            name=name,
            filter=flt.model_dump(mode="json", exclude_none=True),
            created_at=now,
            updated_at=now,
        )
    )
    found = await get_segment(conn, project_id, segment_id)
    assert found is not None
    return found


async def get_segment(
    conn: AsyncConnection, project_id: str, segment_id: str
) -> dict[str, Any] | None:
    """One segment of a project."""
    query = select(segments).where(segments.c.project_id == project_id, segments.c.id == segment_id)
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def list_segments(
    conn: AsyncConnection, project_id: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """Segments of a project in creation order."""
    query = (
        select(segments)
        .where(segments.c.project_id == project_id)
        .order_by(segments.c.pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(segments.c.pk > key_param(after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def update_segment(
    conn: AsyncConnection, project_id: str, segment_id: str, name: str, flt: SegmentFilter
) -> dict[str, Any] | None:
    """Replace a segment's name and filter."""
    result = await conn.execute(
        update(segments)
        .where(segments.c.project_id == project_id, segments.c.id == segment_id)
        .values(
            name=name,
            filter=flt.model_dump(mode="json", exclude_none=True),
            updated_at=utcnow(),
        )
    )
    if not result.rowcount:
        return None
    return await get_segment(conn, project_id, segment_id)


async def delete_segment(conn: AsyncConnection, project_id: str, segment_id: str) -> bool:
    """Delete a segment."""
    result = await conn.execute(
        delete(segments).where(segments.c.project_id == project_id, segments.c.id == segment_id)
    )
    return bool(result.rowcount)
