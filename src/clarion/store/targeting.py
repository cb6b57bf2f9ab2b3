"""Resolving a send's recipients to installations, in bounded chunks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.recipients import Recipients
from clarion.domain.vocabulary import DeliveryOutcome
from clarion.store.deliveries import PLANNED_COLUMNS
from clarion.store.prepared import Prepared
from clarion.store.send_tables import deliveries
from clarion.store.tables import apps, contacts, installations
from clarion.store.types import UtcDateTime

PENDING = DeliveryOutcome.PENDING.value
UNDELIVERABLE = DeliveryOutcome.UNDELIVERABLE.value
NOT_FOUND = DeliveryOutcome.NOT_FOUND.value

#: Devices a contact is reached on unless the send asks for all of them.
RECENT_DEVICES = 10
_CHUNK = 500


@dataclass(frozen=True)
class Target:
    """One device a send will try to reach, and which recipient asked for it."""

    installation_pk: int
    app_id: str
    installation_id: str
    platform: str
    token: str | None
    recipient_kind: str
    recipient: str
    invalid_reason: str | None


@dataclass(frozen=True)
class Unmatched:
    """A recipient that matched no installation."""

    recipient_kind: str
    recipient: str


def _base(project_id: Any, app_ids: Sequence[str] | None) -> Select[Any]:
    query = (
        select(
            installations.c.pk,
            installations.c.installation_id,
            installations.c.platform,
            installations.c.token,
            installations.c.invalidated_at,
            installations.c.invalid_reason,
            installations.c.advertising_id,
            installations.c.contact_pk,
            installations.c.updated_at,
            installations.c.last_engaged_at,
            apps.c.id.label("app_id"),
        )
        .select_from(installations.join(apps, installations.c.app_pk == apps.c.pk))
        .where(apps.c.project_id == project_id)
    )
    if app_ids is not None:
        query = query.where(apps.c.id.in_(list(app_ids)))
    return query


#: Up to this many values are looked up one by one with a prepared statement: cheaper
#: than compiling an IN list of their length (the everyday send names one device).
_ONE_BY_ONE = 16


@dataclass(frozen=True, slots=True)
class _Found:
    """A row of the prepared lookups: only what a target is made of."""

    pk: int
    installation_id: str
    platform: str
    token: str | None
    invalidated: bool
    invalid_reason: str | None
    app_id: str


def _by_value(column: Any) -> Prepared:
    project = bindparam("project", type_=apps.c.project_id.type)
    query = (
        select(
            installations.c.pk,
            installations.c.installation_id,
            installations.c.platform,
            installations.c.token,
            # Only whether it is set matters: the stored instant is not parsed.
            (installations.c.invalidated_at.is_not(None)).label("invalidated"),
            installations.c.invalid_reason,
            apps.c.id.label("app_id"),
        )
        .select_from(installations.join(apps, installations.c.app_pk == apps.c.pk))
        .where(apps.c.project_id == project, column == bindparam("value", type_=column.type))
    )
    return Prepared(query)


_BY_VALUE = {
    column.name: _by_value(column)
    for column in (
        installations.c.token,
        installations.c.installation_id,
        installations.c.advertising_id,
    )
}


def _by_array(
    project_id: str, app_ids: Sequence[str] | None, column: Any, values: list[str]
) -> Any:
    """PostgreSQL: every value in one array parameter, joined to the installations.

    An IN list of bound parameters, once PostgreSQL switches the prepared statement to
    its generic plan, was scanned with a linear filter on every installation of the
    app (a third of a second per 500 values); a join on the unnested array is hashed or
    looked up by index whatever the plan, and needs one statement for any number of
    values.
    """
    wanted = _array_values(values)
    return _base(project_id, app_ids).join(wanted, column == wanted.c.value)


def _array_values(values: list[str]) -> Any:
    """The values as the rows of a table `wanted(value)`, from one array parameter."""
    return (
        func.unnest(bindparam("values", values, type_=ARRAY(String)))
        .table_valued("value")
        .render_derived(name="wanted")
    )


def _chunks(values: Sequence[str]) -> list[list[str]]:
    return [list(values[i : i + _CHUNK]) for i in range(0, len(values), _CHUNK)]


def _target(row: Any, kind: str, recipient: str) -> Target:
    invalidated = row.invalidated if isinstance(row, _Found) else row.invalidated_at is not None
    invalid = row.invalid_reason or "invalidated" if invalidated else None
    return Target(
        row.pk, row.app_id, row.installation_id, row.platform, row.token, kind, recipient, invalid
    )


async def resolve(
    conn: AsyncConnection, project_id: str, recipients: Recipients, app_ids: Sequence[str] | None
) -> tuple[list[Target], list[Unmatched]]:
    """Every device the recipients name (each device once) and the recipients that named none."""
    targets: dict[int, Target] = {}
    unmatched: list[Unmatched] = []

    async def by_column(kind: str, values: Sequence[str], column: Any) -> None:
        found: dict[str, list[Any]] = {}
        if app_ids is None and len(values) <= _ONE_BY_ONE:
            for value in dict.fromkeys(values):
                params = {"project": project_id, "value": value}
                found[value] = [
                    _Found(**row) for row in await _BY_VALUE[column.name].run(conn, params)
                ]
        elif conn.dialect.name == "postgresql":
            distinct = list(dict.fromkeys(values))
            for row in await conn.execute(_by_array(project_id, app_ids, column, distinct)):
                found.setdefault(getattr(row, column.name), []).append(row)
        else:
            for chunk in _chunks(values):
                for row in await conn.execute(_base(project_id, app_ids).where(column.in_(chunk))):
                    found.setdefault(getattr(row, column.name), []).append(row)
        for value in values:
            matches = found.get(value, [])
            if not matches:
                unmatched.append(Unmatched(kind, value))
            for row in matches:
                targets.setdefault(row.pk, _target(row, kind, value))

    await by_column("token", recipients.tokens, installations.c.token)
    await by_column("installation_id", recipients.installation_ids, installations.c.installation_id)
    await by_column("advertising_id", recipients.advertising_ids, installations.c.advertising_id)
    for kind, values, column in (
        ("external_id", recipients.external_ids, contacts.c.external_id),
        ("email", recipients.emails, contacts.c.email),
    ):
        await _by_contact(
            conn,
            project_id,
            app_ids,
            kind,
            values,
            column,
            recipients.all_devices,
            targets,
            unmatched,
        )
    return list(targets.values()), unmatched


async def _by_contact(
    conn: AsyncConnection,
    project_id: str,
    app_ids: Sequence[str] | None,
    kind: str,
    values: Sequence[str],
    column: Any,
    all_devices: bool,
    targets: dict[int, Target],
    unmatched: list[Unmatched],
) -> None:
    if not values:
        return
    recency = func.coalesce(installations.c.last_engaged_at, installations.c.updated_at)
    found: dict[str, list[Any]] = {}
    # On PostgreSQL every value in one array, for the reason `_by_array` gives.
    postgresql = conn.dialect.name == "postgresql"
    chunks = [list(dict.fromkeys(values))] if postgresql else _chunks(values)
    for chunk in chunks:
        query = (
            _base(project_id, app_ids)
            .add_columns(column.label("contact_key"))
            .join(contacts, installations.c.contact_pk == contacts.c.pk)
            .where(contacts.c.project_id == project_id)
            .order_by(recency.desc(), installations.c.pk.desc())
        )
        if postgresql:
            query = query.join(wanted := _array_values(chunk), column == wanted.c.value)
        else:
            query = query.where(column.in_(chunk))
        for row in await conn.execute(query):
            found.setdefault(row.contact_key, []).append(row)
    for value in values:
        rows = found.get(value, [])
        # Only valid devices count toward the most recent ones a contact is reached on.
        valid = [row for row in rows if row.invalidated_at is None]
        chosen = valid if all_devices else valid[:RECENT_DEVICES]
        if not chosen:
            unmatched.append(Unmatched(kind, value))
        for row in chosen:
            targets.setdefault(row.pk, _target(row, kind, value))


@dataclass(frozen=True)
class Inserted:
    """How many delivery rows a set-based plan made: devices found, recipients unmatched."""

    targeted: int
    unmatched: int


#: The installation column each single-column recipient kind is looked up by.
_COLUMNS = {
    "token": installations.c.token,
    "installation_id": installations.c.installation_id,
    "advertising_id": installations.c.advertising_id,
}


def single_column(recipients: Recipients) -> tuple[str, Sequence[str]] | None:
    """The kind and values of recipients that name devices by one column only, else None.

    Such a list is planned by two INSERT … SELECT statements: each value names devices
    directly, so no device can be claimed by two recipients of different kinds.
    """
    if recipients.external_ids or recipients.emails:
        return None
    named = [
        (kind, values)
        for kind, values in (
            ("token", recipients.tokens),
            ("installation_id", recipients.installation_ids),
            ("advertising_id", recipients.advertising_ids),
        )
        if values
    ]
    if len(named) != 1 or len(set(named[0][1])) != len(named[0][1]):
        return None
    return named[0]


def _wanted(dialect: str, values: Sequence[str]) -> Any:
    """The values as a table (`value`, `position`), built in the database from one parameter."""
    if dialect == "postgresql":
        unnested = func.unnest(bindparam("wanted", list(values), type_=ARRAY(String)))
        return unnested.table_valued("value", with_ordinality="position").render_derived("wanted")
    each = func.json_each(bindparam("wanted", json.dumps(list(values)), type_=String))
    table = each.table_valued("key", "value").alias("wanted")
    return select(table.c.value, table.c.key.label("position")).subquery("wanted")


async def insert_single_column(
    conn: AsyncConnection,
    send_id: str,
    project_id: str,
    kind: str,
    values: Sequence[str],
    app_ids: Sequence[str] | None,
    now: datetime,
) -> Inserted:
    """Make the delivery rows of a one-column recipient list in the database.

    The same rows `resolve` and a row per target would give: a row per device found (in
    the order of the values, `undeliverable` when its token was invalidated), then a
    `not_found` row per value that found none. No device passes through Python.
    """
    column = _COLUMNS[kind]
    wanted = _wanted(conn.dialect.name, values)
    scope = apps.c.project_id == project_id
    if app_ids is not None:
        scope = and_(scope, apps.c.id.in_(list(app_ids)))
    valid = installations.c.invalidated_at.is_(None)
    found = (
        select(
            literal(send_id, String),
            installations.c.pk,
            apps.c.id,
            installations.c.installation_id,
            installations.c.platform,
            literal(kind, String),
            wanted.c.value,
            installations.c.token,
            case((valid, literal(PENDING, String)), else_=literal(UNDELIVERABLE, String)),
            case(
                (valid, null()),
                else_=func.coalesce(installations.c.invalid_reason, "invalidated"),
            ),
            literal(0, Integer),
            literal(now, UtcDateTime),
            case((valid, null()), else_=literal(now, UtcDateTime)),
        )
        .select_from(
            wanted.join(installations, column == wanted.c.value).join(
                apps, installations.c.app_pk == apps.c.pk
            )
        )
        .where(scope)
        .order_by(wanted.c.position, installations.c.pk)
    )
    made = await conn.execute(insert(deliveries).from_select(list(PLANNED_COLUMNS), found))
    matching = (
        select(installations.c.pk)
        .select_from(installations.join(apps, installations.c.app_pk == apps.c.pk))
        .where(scope, column == wanted.c.value)
    )
    missing = (
        select(
            literal(send_id, String),
            null(),
            null(),
            null(),
            null(),
            literal(kind, String),
            wanted.c.value,
            null(),
            literal(NOT_FOUND, String),
            null(),
            literal(0, Integer),
            literal(now, UtcDateTime),
            literal(now, UtcDateTime),
        )
        .select_from(wanted)
        .where(~exists(matching))
        .order_by(wanted.c.position)
    )
    lost = await conn.execute(insert(deliveries).from_select(list(PLANNED_COLUMNS), missing))
    return Inserted(int(made.rowcount), int(lost.rowcount))
