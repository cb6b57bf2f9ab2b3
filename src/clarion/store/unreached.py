"""Who a send did not reach by push: the contacts its last step stores inbox items for and texts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.vocabulary import DeliveryOutcome
from clarion.store.send_tables import deliveries
from clarion.store.tables import contacts, installations

#: Push outcomes after which a contact counts as not reached.
FAILED_PUSH = frozenset({"undeliverable", "error"})


async def unreached_contacts(
    conn: AsyncConnection, project_id: str, send_id: str
) -> tuple[dict[int, dict[str, Any]], set[int], set[str]]:
    """Contacts without any device, contacts whose pushes all failed, and those already texted."""
    outcomes: dict[int, set[str]] = defaultdict(set)
    device_rows = await conn.execute(
        select(installations.c.contact_pk, deliveries.c.outcome)
        .select_from(
            deliveries.join(installations, deliveries.c.installation_pk == installations.c.pk)
        )
        .where(deliveries.c.send_id == send_id, installations.c.contact_pk.is_not(None))
    )
    for contact_pk, outcome in device_rows:
        outcomes[int(contact_pk)].add(outcome)
    failed = {pk for pk, seen in outcomes.items() if seen <= FAILED_PUSH}
    missing = await conn.execute(
        select(deliveries.c.recipient_kind, deliveries.c.recipient).where(
            deliveries.c.send_id == send_id,
            deliveries.c.outcome == DeliveryOutcome.NOT_FOUND,
            deliveries.c.recipient_kind.in_(("external_id", "email")),
        )
    )
    wanted: dict[str, set[str]] = defaultdict(set)
    for kind, value in missing:
        wanted[kind].add(value)
    deviceless: dict[int, dict[str, Any]] = {}
    for kind, values in wanted.items():
        column = contacts.c.external_id if kind == "external_id" else contacts.c.email
        rows = await conn.execute(
            select(contacts).where(contacts.c.project_id == project_id, column.in_(sorted(values)))
        )
        for row in rows.mappings():
            if int(row["pk"]) not in outcomes:
                deviceless[int(row["pk"])] = dict(row)
    texted = await conn.execute(
        select(deliveries.c.recipient).where(
            deliveries.c.send_id == send_id, deliveries.c.platform == "sms"
        )
    )
    return deviceless, failed, {row.recipient for row in texted}


async def contacts_by_pk(conn: AsyncConnection, pks: set[int]) -> dict[int, dict[str, Any]]:
    """Contacts by primary key, as column mappings."""
    if not pks:
        return {}
    rows = await conn.execute(select(contacts).where(contacts.c.pk.in_(sorted(pks))))
    return {int(row["pk"]): dict(row) for row in rows.mappings()}
