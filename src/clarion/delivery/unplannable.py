"""Finding the recipients of a send that cannot be planned, so that the others still are.

When resolving a send's recipients raises, the list is split in halves and each half
resolved on its own, down to the single recipients that fail: a few bad values cost
a few dozen queries, and every other recipient is planned as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.domain.recipients import Recipients
from clarion.store.deliveries import REASON_CHARS
from clarion.store.targeting import resolve
from clarion.store.text import describe

#: Recipient list fields and the kind each recipient of them is recorded as.
KINDS = (
    ("tokens", "token"),
    ("installation_ids", "installation_id"),
    ("advertising_ids", "advertising_id"),
    ("external_ids", "external_id"),
    ("emails", "email"),
)
#: A recipient: its kind and value.
Item = tuple[str, str]


def items_of(recipients: Recipients) -> list[Item]:
    """Every recipient with its kind, in the order planning reads them."""
    return [(kind, value) for name, kind in KINDS for value in getattr(recipients, name)]


def recipients_of(items: Sequence[Item], all_devices: bool) -> Recipients:
    """Recipients holding exactly `items` (already validated when the send was accepted)."""
    lists: dict[str, list[str]] = {name: [] for name, _ in KINDS}
    field_of = {kind: name for name, kind in KINDS}
    for kind, value in items:
        lists[field_of[kind]].append(value)
    return Recipients.model_construct(
        tokens=tuple(lists["tokens"]),
        installation_ids=tuple(lists["installation_ids"]),
        advertising_ids=tuple(lists["advertising_ids"]),
        external_ids=tuple(lists["external_ids"]),
        emails=tuple(lists["emails"]),
        all_devices=all_devices,
    )


async def unplannable(
    engine: AsyncEngine,
    project_id: str,
    recipients: Recipients,
    app_ids: Sequence[str] | None,
) -> dict[Item, str]:
    """The recipients that fail to resolve on their own, with the reason; {} if all fail.

    When every recipient fails, the fault is not theirs (a bug, the database): the
    caller should fail the whole job, which is retried.
    """

    async def failing(items: list[Item]) -> dict[Item, str]:
        if not items:
            return {}
        try:
            async with engine.connect() as conn:
                await resolve(
                    conn, project_id, recipients_of(items, recipients.all_devices), app_ids
                )
        except (OSError, OperationalError, InterfaceError):
            # The database is away: no recipient is to blame.
            raise
        except Exception as exc:
            if len(items) == 1:
                return {items[0]: describe(exc, REASON_CHARS)}
            middle = len(items) // 2
            return await failing(items[:middle]) | await failing(items[middle:])
        return {}

    everyone = items_of(recipients)
    found = await failing(everyone)
    return {} if len(found) == len(everyone) else found
