"""Engagement events reported by the SDKs (received, opened, clicked, dismissed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store.metadata import metadata
from clarion.store.pagination import key_param
from clarion.store.send_tables import deliveries, sends
from clarion.store.tables import apps, installations
from clarion.store.types import BigId, UtcDateTime

EVENT_TYPES = ("received", "opened", "clicked", "dismissed")
#: Events that count as the user engaging with the app.
ENGAGING = ("opened", "clicked")

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column(
        "installation_pk",
        BigId,
        ForeignKey("installations.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("type", String(16), nullable=False),
    Column("send_id", String(40), ForeignKey("sends.id", ondelete="CASCADE"), nullable=True),
    Column("delivery_id", BigId, nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Index("ix_events_send_type", "send_id", "type"),
    Index("ix_events_installation", "installation_pk"),
)


async def app_by_public_key(conn: AsyncConnection, public_key: str) -> dict[str, Any] | None:
    """The app owning a public (SDK) key."""
    query = select(apps.c.pk, apps.c.id, apps.c.project_id).where(apps.c.public_key == public_key)
    found = (await conn.execute(query)).mappings().first()
    return dict(found) if found else None


async def installation_pk(conn: AsyncConnection, app_pk: int, installation_id: str) -> int | None:
    """The key of an app's installation, if it exists."""
    query = select(installations.c.pk).where(
        installations.c.app_pk == app_pk, installations.c.installation_id == installation_id
    )
    return (await conn.execute(query)).scalar()


async def send_in_project(conn: AsyncConnection, send_id: str, project_id: str) -> bool:
    """Whether a send exists in the project."""
    query = select(sends.c.id).where(sends.c.id == send_id, sends.c.project_id == project_id)
    return (await conn.execute(query)).first() is not None


async def delivery_of_send(conn: AsyncConnection, delivery_id: int, project_id: str) -> str | None:
    """The send a delivery of the project belongs to; None for other projects' deliveries."""
    query = (
        select(deliveries.c.send_id)
        .join(sends, sends.c.id == deliveries.c.send_id)
        .where(deliveries.c.id == key_param(delivery_id), sends.c.project_id == project_id)
    )
    return (await conn.execute(query)).scalar()


async def record_event(
    conn: AsyncConnection,
    *,
    project_id: str,
    app_pk: int,
    installation: int,
    event_type: str,
    send_id: str | None,
    delivery_id: int | None,
    occurred_at: datetime,
    received_at: datetime,
) -> int:
    """Store one event; an engaging event also moves the installation's last engagement."""
    result = await conn.execute(
        events.insert()
        .values(
            project_id=project_id,
            app_pk=app_pk,
            installation_pk=installation,
            type=event_type,
            send_id=send_id,
            delivery_id=delivery_id,
            occurred_at=occurred_at,
            received_at=received_at,
        )
        .returning(events.c.id)
    )
    if event_type in ENGAGING:
        # Never move it backwards: SDKs may flush old events late.
        await conn.execute(
            update(installations)
            .where(
                installations.c.pk == installation,
                (installations.c.last_engaged_at.is_(None))
                | (installations.c.last_engaged_at < occurred_at),
            )
            .values(last_engaged_at=occurred_at)
        )
    return int(result.scalar_one())


async def engagement_counts(conn: AsyncConnection, send_id: str) -> dict[str, int]:
    """Distinct devices that opened and that clicked a send."""
    query = (
        select(events.c.type, func.count(events.c.installation_pk.distinct()))
        .where(events.c.send_id == send_id, events.c.type.in_(ENGAGING))
        .group_by(events.c.type)
    )
    counts = dict.fromkeys(("opened", "clicked"), 0)
    for event_type, count in await conn.execute(query):
        counts["opened" if event_type == "opened" else "clicked"] = int(count)
    return counts
