"""Frequency caps: which contacts already received too many sends with one of a send's labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.store import caps as cap_store


def window_starts(rules: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, datetime]:
    """Per label, the start of the window its rule counts in."""
    return {r["label"]: now - timedelta(seconds=int(r["period_seconds"])) for r in rules}


def capping_label(
    contact_pk: int,
    rules: Iterable[Mapping[str, Any]],
    counts: Mapping[tuple[int, str], int],
) -> str | None:
    """The first label (by name) whose cap the contact has reached, or None."""
    for rule in sorted(rules, key=lambda r: str(r["label"])):
        if counts.get((contact_pk, rule["label"]), 0) >= int(rule["max_sends"]):
            return str(rule["label"])
    return None


async def reserve_caps(
    conn: AsyncConnection,
    send_id: str,
    labels: Sequence[str],
    rules: Sequence[Mapping[str, Any]],
    contact_pks: Iterable[int],
    now: datetime,
    *,
    record: bool = True,
) -> dict[int, str]:
    """Contacts over a cap of the send's labels (with the label); the rest are counted now.

    The others are recorded as reached by this send (unless `record` is false) before
    anything is sent, and released if none of their devices is sent after all. Runs inside
    one write transaction that holds the contacts, so two sends racing for a contact's last
    allowance never both get it: the second one sees the first one's record.
    Records of this very send are left out of the counts, so the other devices of a contact
    reached by this send (or a retry of its batch) are not capped by its first device.
    """
    wanted = sorted(set(contact_pks))
    if not labels or not rules or not wanted:
        return {}
    await cap_store.lock_contacts(conn, wanted)
    counts = await cap_store.received_counts(conn, wanted, window_starts(rules, now), send_id)
    capped: dict[int, str] = {}
    for contact_pk in wanted:
        label = capping_label(contact_pk, rules, counts)
        if label is not None:
            capped[contact_pk] = label
    if record:
        kept = [pk for pk in wanted if pk not in capped]
        await cap_store.record_hits(conn, hits_for(send_id, labels, kept, now))
    return capped


def hits_for(
    send_id: str, labels: Sequence[str], contact_pks: Iterable[int], now: datetime
) -> list[dict[str, Any]]:
    """The cap records of contacts that received a labelled send."""
    return [
        {"contact_pk": pk, "label": label, "send_id": send_id, "sent_at": now}
        for pk in sorted(set(contact_pks))
        for label in labels
    ]
