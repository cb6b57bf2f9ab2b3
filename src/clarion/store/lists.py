"""Static lists of contacts: the `lists` and `list_members` tables and their queries."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.metadata import metadata
from clarion.store.pagination import key_param
from clarion.store.tables import contacts
from clarion.store.types import BigId, UtcDateTime, utcnow

lists = Table(
    "lists",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", String(1000), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_lists_project_pk", "project_id", "pk"),
)

list_members = Table(
    "list_members",
    metadata,
    Column("list_pk", Integer, ForeignKey("lists.pk", ondelete="CASCADE"), primary_key=True),
    Column("contact_pk", BigId, ForeignKey("contacts.pk", ondelete="CASCADE"), primary_key=True),
    Column("added_at", UtcDateTime(), nullable=False),
    Index("ix_list_members_contact", "contact_pk"),
)


def new_list_id() -> str:
    """An unguessable list id."""
    return "lst_" + secrets.token_hex(12)


async def create_list(
    conn: AsyncConnection, project_id: str, name: str, description: str | None
) -> dict[str, Any]:
    """Insert an empty list and return it."""
    now = utcnow()
    list_id = new_list_id()
    await conn.execute(
        lists.insert().values(
            id=list_id,
            project_id=project_id,
            name=name,
            description=description,
            created_at=now,
            updated_at=now,
        )
    )
    found = await get_list(conn, project_id, list_id)
    assert found is not None
    return found


async def get_list(conn: AsyncConnection, project_id: str, list_id: str) -> dict[str, Any] | None:
    """One list of a project, with its member count."""
    query = select(lists, _member_count()).where(
        lists.c.project_id == project_id, lists.c.id == list_id
    )
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


def _member_count() -> Any:
    return (
        select(func.count())
        .select_from(list_members)
        .where(list_members.c.list_pk == lists.c.pk)
        .scalar_subquery()
        .label("member_count")
    )


async def list_lists(
    conn: AsyncConnection, project_id: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """Lists of a project in creation order."""
    query = (
        select(lists, _member_count())
        .where(lists.c.project_id == project_id)
        .order_by(lists.c.pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(lists.c.pk > key_param(after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_list(conn: AsyncConnection, project_id: str, list_id: str) -> bool:
    """Delete a list and its memberships (the contacts stay)."""
    found = await get_list(conn, project_id, list_id)
    if found is None:
        return False
    # Members first: SQLite only cascades when foreign keys are switched on.
    await conn.execute(delete(list_members).where(list_members.c.list_pk == found["pk"]))
    await conn.execute(delete(lists).where(lists.c.pk == found["pk"]))
    return True


async def ensure_contacts(
    conn: AsyncConnection, project_id: str, external_ids: Sequence[str]
) -> dict[str, int]:
    """The contact pk of every external id, creating empty contacts for unknown ones."""
    wanted = list(dict.fromkeys(external_ids))
    if not wanted:
        return {}
    known = await _contact_pks(conn, project_id, wanted)
    missing = [e for e in wanted if e not in known]
    if missing:
        now = utcnow()
        rows = [
            {
                "project_id": project_id,
                "external_id": external_id,
                "attributes": {},
                "created_at": now,
                "updated_at": now,
            }
            for external_id in missing
        ]
        # A concurrent import may create the same contacts: theirs are as good as ours.
        await conn.execute(_insert_ignoring_duplicates(conn, contacts), rows)
        known |= await _contact_pks(conn, project_id, missing)
    return known


async def _contact_pks(
    conn: AsyncConnection, project_id: str, external_ids: Sequence[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(external_ids), 500):
        chunk = list(external_ids[start : start + 500])
        query = select(contacts.c.external_id, contacts.c.pk).where(
            contacts.c.project_id == project_id, contacts.c.external_id.in_(chunk)
        )
        found |= {row.external_id: int(row.pk) for row in await conn.execute(query)}
    return found


def _insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


async def add_members(
    conn: AsyncConnection, project_id: str, list_pk: int, external_ids: Sequence[str]
) -> int:
    """Add contacts (created when unknown) to a list; return how many were not members yet."""
    pks = await ensure_contacts(conn, project_id, external_ids)
    if not pks:
        return 0
    now = utcnow()
    before = await member_count(conn, list_pk)
    rows = [{"list_pk": list_pk, "contact_pk": pk, "added_at": now} for pk in pks.values()]
    await conn.execute(_insert_ignoring_duplicates(conn, list_members), rows)
    await conn.execute(update(lists).where(lists.c.pk == list_pk).values(updated_at=now))
    return await member_count(conn, list_pk) - before


async def remove_members(
    conn: AsyncConnection, project_id: str, list_pk: int, external_ids: Sequence[str]
) -> int:
    """Remove contacts from a list; return how many were members."""
    known = await _contact_pks(conn, project_id, list(dict.fromkeys(external_ids)))
    removed = 0
    values = list(known.values())
    for start in range(0, len(values), 500):
        result = await conn.execute(
            delete(list_members).where(
                list_members.c.list_pk == list_pk,
                list_members.c.contact_pk.in_(values[start : start + 500]),
            )
        )
        removed += int(result.rowcount)
    if removed:
        await conn.execute(update(lists).where(lists.c.pk == list_pk).values(updated_at=utcnow()))
    return removed


async def member_count(conn: AsyncConnection, list_pk: int) -> int:
    """Number of contacts in a list."""
    query = select(func.count()).select_from(list_members).where(list_members.c.list_pk == list_pk)
    return int((await conn.execute(query)).scalar_one())


async def list_members_page(
    conn: AsyncConnection, list_pk: int, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """Members of a list in contact order, with their external id."""
    query = (
        select(
            list_members.c.contact_pk,
            list_members.c.added_at,
            contacts.c.external_id,
        )
        .select_from(list_members.join(contacts, list_members.c.contact_pk == contacts.c.pk))
        .where(list_members.c.list_pk == list_pk)
        .order_by(list_members.c.contact_pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(list_members.c.contact_pk > key_param(after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def list_pks(
    conn: AsyncConnection, project_id: str, list_ids: Sequence[str]
) -> dict[str, int]:
    """The pk of each existing list id of the project."""
    if not list_ids:
        return {}
    query = select(lists.c.id, lists.c.pk).where(
        lists.c.project_id == project_id, lists.c.id.in_(list(list_ids))
    )
    return {row.id: int(row.pk) for row in await conn.execute(query)}
