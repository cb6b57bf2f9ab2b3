"""Frequency cap rules by label and the per-contact record of labelled sends received."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import DeliveryOutcome
from clarion.store.metadata import metadata
from clarion.store.send_tables import deliveries
from clarion.store.tables import contacts, installations
from clarion.store.types import BigId, UtcDateTime

cap_rules = Table(
    "cap_rules",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(256), nullable=False),
    Column("max_sends", Integer, nullable=False),
    Column("period_seconds", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("project_id", "label", name="pk_cap_rules"),
)

# One row per contact, label and send: a send reaching several devices of a contact counts once.
cap_hits = Table(
    "cap_hits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("contact_pk", BigId, ForeignKey("contacts.pk", ondelete="CASCADE"), nullable=False),
    Column("label", String(256), nullable=False),
    Column("send_id", String(40), ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
    UniqueConstraint("contact_pk", "label", "send_id", name="uq_cap_hits_contact_label_send"),
    Index("ix_cap_hits_contact_label_time", "contact_pk", "label", "sent_at"),
)


async def put_rule(
    conn: AsyncConnection, project_id: str, label: str, max_sends: int, period: int, now: datetime
) -> bool:
    """Create or replace a rule; tell whether it was created."""
    existed = await conn.execute(
        delete(cap_rules).where(cap_rules.c.project_id == project_id, cap_rules.c.label == label)
    )
    await conn.execute(
        cap_rules.insert().values(
            project_id=project_id,
            label=label,
            max_sends=max_sends,
            period_seconds=period,
            updated_at=now,
        )
    )
    return not existed.rowcount


async def list_rules(
    conn: AsyncConnection, project_id: str, labels: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The project's rules (optionally only those of some labels), by label."""
    query = select(cap_rules).where(cap_rules.c.project_id == project_id)
    if labels is not None:
        query = query.where(cap_rules.c.label.in_(list(labels)))
    return [dict(r) for r in (await conn.execute(query.order_by(cap_rules.c.label))).mappings()]


async def delete_rule(conn: AsyncConnection, project_id: str, label: str) -> bool:
    """Delete a rule; tell whether it existed."""
    result = await conn.execute(
        delete(cap_rules).where(cap_rules.c.project_id == project_id, cap_rules.c.label == label)
    )
    return bool(result.rowcount)


async def received_counts(
    conn: AsyncConnection,
    contact_pks: Sequence[int],
    since: dict[str, datetime],
    exclude_send: str,
) -> dict[tuple[int, str], int]:
    """Per (contact, label): labelled sends received since the label's window start."""
    counts: dict[tuple[int, str], int] = {}
    if not contact_pks:
        return counts
    for label, start in since.items():
        query = (
            select(cap_hits.c.contact_pk, func.count())
            .where(
                cap_hits.c.contact_pk.in_(list(contact_pks)),
                cap_hits.c.label == label,
                cap_hits.c.sent_at > start,
                cap_hits.c.send_id != exclude_send,
            )
            .group_by(cap_hits.c.contact_pk)
        )
        for contact_pk, count in await conn.execute(query):
            counts[(int(contact_pk), label)] = int(count)
    return counts


async def record_hits(conn: AsyncConnection, hits: Sequence[dict[str, Any]]) -> None:
    """Record labelled sends received (contact_pk, label, send_id, sent_at), once per send."""
    if not hits:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(cap_hits).on_conflict_do_nothing(
        index_elements=["contact_pk", "label", "send_id"]
    )
    await conn.execute(statement, list(hits))


async def lock_contacts(conn: AsyncConnection, contact_pks: Sequence[int]) -> None:
    """Hold the contacts until commit, so that their cap checks and records run one at a time.

    Only PostgreSQL needs it: a SQLite write transaction already holds the whole database.
    Rows are locked in key order, so two calls never wait on each other in a circle; two
    group transactions each carrying several calls still may, and then PostgreSQL fails
    one of them, whose calls the queue writer runs again one by one. FOR NO KEY UPDATE
    leaves the foreign-key checks of inserted cap records free to proceed.
    """
    if conn.dialect.name != "postgresql" or not contact_pks:
        return
    await conn.execute(
        select(contacts.c.pk)
        .where(contacts.c.pk.in_(sorted(set(contact_pks))))
        .order_by(contacts.c.pk)
        .with_for_update(key_share=True)
    )


async def release_unsent(conn: AsyncConnection, send_id: str, contact_pks: Sequence[int]) -> None:
    """Drop the send's cap records of contacts it reached on no device and still holds none for.

    A record made before sending stands for the send while any of the contact's devices is
    still pending in it; once none was sent and none is left, the send no longer counts.
    """
    if not contact_pks:
        return
    still_counts = exists(
        select(deliveries.c.id)
        .select_from(
            deliveries.join(installations, deliveries.c.installation_pk == installations.c.pk)
        )
        .where(
            and_(
                deliveries.c.send_id == send_id,
                installations.c.contact_pk == cap_hits.c.contact_pk,
                deliveries.c.outcome.in_([DeliveryOutcome.SENT, DeliveryOutcome.PENDING]),
            )
        )
    )
    await conn.execute(
        delete(cap_hits).where(
            cap_hits.c.send_id == send_id,
            cap_hits.c.contact_pk.in_(sorted(set(contact_pks))),
            ~still_counts,
        )
    )
