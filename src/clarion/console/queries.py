"""Reads only the console needs: counts, groupings and searches over the project's data.

Every query is bounded by the project and, for keys limited to some apps, by those apps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.command import SendCommand
from clarion.domain.vocabulary import DeliveryOutcome
from clarion.store.audience import count_audience, resolve_audience
from clarion.store.events import events
from clarion.store.send_tables import deliveries, sends
from clarion.store.tables import apps, contacts, installations
from clarion.store.targeting import resolve

#: Outcomes counted as delivery errors in charts and health.
FAILED = (DeliveryOutcome.ERROR, DeliveryOutcome.UNDELIVERABLE)


async def planned_size(
    conn: AsyncConnection, project_id: str, command: SendCommand, now: datetime
) -> int:
    """How many devices a send command would reach right now."""
    if command.broadcast is not None:
        resolved = await resolve_audience(conn, project_id, command.broadcast)
        return await count_audience(conn, project_id, resolved, command.apps, now)
    targets, _ = await resolve(conn, project_id, command.recipients, command.apps)
    return sum(1 for target in targets if target.invalid_reason is None)


def _app_filter(app_ids: frozenset[str] | None) -> list[Any]:
    return [] if app_ids is None else [apps.c.id.in_(sorted(app_ids))]


async def device_counts(
    conn: AsyncConnection, project_id: str, app_ids: frozenset[str] | None
) -> dict[str, dict[str, dict[str, int]]]:
    """Per app, per platform: reachable and invalid installations."""
    reachable = installations.c.invalidated_at.is_(None)
    query = (
        select(
            apps.c.id,
            installations.c.platform,
            func.sum(case((reachable, 1), else_=0)),
            func.sum(case((reachable, 0), else_=1)),
        )
        .select_from(installations.join(apps, installations.c.app_pk == apps.c.pk))
        .where(apps.c.project_id == project_id, *_app_filter(app_ids))
        .group_by(apps.c.id, installations.c.platform)
    )
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for app_id, platform, ok, invalid in await conn.execute(query):
        counts.setdefault(app_id, {})[platform] = {"reachable": int(ok), "invalid": int(invalid)}
    return counts


async def provider_health(conn: AsyncConnection, project_id: str) -> dict[tuple[str, str], Any]:
    """Per (app, provider): the last successful delivery and the last error with its reason."""
    last_ok = (
        select(deliveries.c.app_id, deliveries.c.platform, func.max(deliveries.c.completed_at))
        .select_from(deliveries.join(sends, deliveries.c.send_id == sends.c.id))
        .where(sends.c.project_id == project_id, deliveries.c.outcome == DeliveryOutcome.SENT)
        .group_by(deliveries.c.app_id, deliveries.c.platform)
    )
    health: dict[tuple[str, str], Any] = {}
    for app_id, platform, when in await conn.execute(last_ok):
        health[(app_id, platform)] = {"last_success": when, "last_error": None}
    failed = (
        select(
            deliveries.c.app_id,
            deliveries.c.platform,
            deliveries.c.completed_at,
            deliveries.c.provider_reason,
        )
        .select_from(deliveries.join(sends, deliveries.c.send_id == sends.c.id))
        .where(
            sends.c.project_id == project_id,
            deliveries.c.outcome.in_(FAILED),
            deliveries.c.completed_at.is_not(None),
        )
        .order_by(deliveries.c.completed_at.desc())
        .limit(200)
    )
    for app_id, platform, when, reason in await conn.execute(failed):
        entry = health.setdefault((app_id, platform), {"last_success": None, "last_error": None})
        if entry["last_error"] is None:
            entry["last_error"] = {"at": when, "reason": reason or "unknown"}
    return health


async def sends_over_time(
    conn: AsyncConnection, project_id: str, start: datetime, step: timedelta, count: int
) -> list[tuple[datetime, dict[str, int]]]:
    """Per period of `step` from `start`: devices targeted, sent, in error and opened."""
    series = ("targeted", "sent", "errors", "opened")
    buckets = [(start + step * i, dict.fromkeys(series, 0)) for i in range(count)]

    def bucket(created_at: datetime) -> dict[str, int] | None:
        index = int((created_at - start) // step)
        return buckets[index][1] if 0 <= index < count else None

    recent = (sends.c.project_id == project_id, sends.c.created_at >= start)
    for created_at, targeted in await conn.execute(
        select(sends.c.created_at, sends.c.targeted).where(*recent)
    ):
        if (values := bucket(created_at)) is not None:
            values["targeted"] += int(targeted)
    outcomes = (
        select(sends.c.created_at, deliveries.c.outcome, func.count())
        .select_from(deliveries.join(sends, deliveries.c.send_id == sends.c.id))
        .where(*recent, deliveries.c.outcome.in_((DeliveryOutcome.SENT, *FAILED)))
        .group_by(sends.c.id, sends.c.created_at, deliveries.c.outcome)
    )
    for created_at, outcome, n in await conn.execute(outcomes):
        if (values := bucket(created_at)) is not None:
            sent = outcome == DeliveryOutcome.SENT
            values[DeliveryOutcome.SENT.value if sent else "errors"] += int(n)
    opened = (
        select(sends.c.created_at, func.count(events.c.installation_pk.distinct()))
        .select_from(events.join(sends, events.c.send_id == sends.c.id))
        .where(*recent, events.c.type == "opened")
        .group_by(sends.c.id, sends.c.created_at)
    )
    for created_at, n in await conn.execute(opened):
        if (values := bucket(created_at)) is not None:
            values["opened"] += int(n)
    return buckets


async def top_errors(conn: AsyncConnection, project_id: str, since: datetime) -> list[Any]:
    """The most frequent provider reasons of failed deliveries since an instant."""
    query = (
        select(deliveries.c.platform, deliveries.c.provider_reason, func.count().label("n"))
        .select_from(deliveries.join(sends, deliveries.c.send_id == sends.c.id))
        .where(
            sends.c.project_id == project_id,
            sends.c.created_at >= since,
            deliveries.c.outcome.in_(FAILED),
        )
        .group_by(deliveries.c.platform, deliveries.c.provider_reason)
        .order_by(func.count().desc())
        .limit(8)
    )
    return list(await conn.execute(query))


async def outcomes_by_platform(conn: AsyncConnection, send_id: str) -> list[Any]:
    """A send's deliveries counted by platform, outcome and provider reason."""
    query = (
        select(
            deliveries.c.platform,
            deliveries.c.outcome,
            deliveries.c.provider_reason,
            func.count().label("n"),
        )
        .where(deliveries.c.send_id == send_id)
        .group_by(deliveries.c.platform, deliveries.c.outcome, deliveries.c.provider_reason)
        .order_by(deliveries.c.platform, func.count().desc())
    )
    return list(await conn.execute(query))


async def search_trail(
    conn: AsyncConnection, send_id: str, text: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """A send's deliveries whose token, installation or contact is (or starts with) `text`."""
    query = select(deliveries).where(deliveries.c.send_id == send_id)
    if text:
        prefix = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                deliveries.c.token.like(prefix, escape="\\"),
                deliveries.c.installation_id.like(prefix, escape="\\"),
                deliveries.c.recipient.like(prefix, escape="\\"),
            )
        )
    if after is not None:
        query = query.where(deliveries.c.id > after)
    rows = await conn.execute(query.order_by(deliveries.c.id).limit(limit))
    return [dict(row) for row in rows.mappings()]


async def find_devices(
    conn: AsyncConnection, project_id: str, app_ids: frozenset[str] | None, text: str
) -> list[dict[str, Any]]:
    """Installations matching a contact external id, an installation id or a token."""
    query = (
        select(
            installations,
            apps.c.id.label("app_id"),
            contacts.c.external_id.label("external_id"),
        )
        .select_from(
            installations.join(apps, installations.c.app_pk == apps.c.pk).outerjoin(
                contacts, installations.c.contact_pk == contacts.c.pk
            )
        )
        .where(
            apps.c.project_id == project_id,
            *_app_filter(app_ids),
            or_(
                contacts.c.external_id == text,
                installations.c.installation_id == text,
                installations.c.token == text,
            ),
        )
        .order_by(installations.c.updated_at.desc())
        .limit(50)
    )
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def recent_deliveries(
    conn: AsyncConnection, project_id: str, pairs: Sequence[tuple[str, str]], limit: int = 20
) -> list[dict[str, Any]]:
    """The latest deliveries to some (app, installation) pairs, newest first."""
    if not pairs:
        return []
    query = (
        select(deliveries)
        .select_from(deliveries.join(sends, deliveries.c.send_id == sends.c.id))
        .where(
            sends.c.project_id == project_id,
            or_(
                *(
                    (deliveries.c.app_id == app_id) & (deliveries.c.installation_id == inst)
                    for app_id, inst in pairs
                )
            ),
        )
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def browse_installations(
    conn: AsyncConnection,
    project_id: str,
    app_ids: frozenset[str] | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The project's installations in registration order, a page at a time."""
    query = (
        select(
            installations.c.pk,
            installations.c.installation_id,
            installations.c.platform,
            installations.c.token,
            installations.c.invalid_reason,
            installations.c.updated_at,
            apps.c.id.label("app_id"),
            contacts.c.external_id.label("external_id"),
        )
        .select_from(
            installations.join(apps, installations.c.app_pk == apps.c.pk).outerjoin(
                contacts, installations.c.contact_pk == contacts.c.pk
            )
        )
        .where(apps.c.project_id == project_id, *_app_filter(app_ids))
        .order_by(installations.c.pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(installations.c.pk > after)
    return [dict(row) for row in (await conn.execute(query)).mappings()]
