"""The device query: installations with their app and contact, as delivery and preview read them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.domain.device import Device
from clarion.store.prepared import Prepared
from clarion.store.send_tables import deliveries
from clarion.store.sends import PENDING
from clarion.store.tables import apps, contacts, installations


def select_devices(
    *extra: ColumnElement[Any], joined_to: FromClause = installations, outer: bool = False
) -> Select[Any]:
    """`extra` plus the columns `device_from_row` reads, with each installation's app and contact.

    `joined_to` must already contain `installations`; the contact join is outer, since an
    installation need not belong to a contact, and so is the app's when `outer` is set.
    """
    return select(
        *extra,
        installations.c.installation_id,
        installations.c.app_pk,
        installations.c.platform,
        installations.c.token,
        installations.c.subscription,
        installations.c.language,
        installations.c.timezone,
        installations.c.tags,
        installations.c.attributes,
        contacts.c.external_id,
        contacts.c.email,
        contacts.c.phone,
        contacts.c.language.label("contact_language"),
        contacts.c.timezone.label("contact_timezone"),
        contacts.c.attributes.label("contact_attributes"),
    ).select_from(
        joined_to.join(apps, installations.c.app_pk == apps.c.pk, isouter=outer).outerjoin(
            contacts, installations.c.contact_pk == contacts.c.pk
        )
    )


def device_from_row(row: Any) -> Device:
    """A Device from a row joining installations and contacts (contact columns prefixed)."""
    contact = None
    if row.external_id is not None:
        contact = {
            "external_id": row.external_id,
            "email": row.email,
            "phone": row.phone,
            "language": row.contact_language,
            "timezone": row.contact_timezone,
            "attributes": row.contact_attributes or {},
        }
    return Device.assembled(
        row.platform,
        row.installation_id,
        row.token,
        row.subscription,
        row.language,
        row.timezone,
        list(row.tags or []),
        dict(row.attributes or {}),
        contact,
    )


async def pending_rows(conn: AsyncConnection, ids: list[int]) -> list[Any]:
    """The pending deliveries among `ids`, in id order, with what `device_from_row` reads.

    One read for the whole batch: a delivery whose installation was deleted since
    planning comes back too, with `present` false and no device columns.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    if len(wanted) > _SLOTS[-1]:
        return list(await conn.execute(_PENDING_MANY, {"b_ids": wanted}))
    slots = next(size for size in _SLOTS if size >= len(wanted))
    # The unused slots repeat the last id, so that each size's statement is prepared once.
    padded = wanted + [wanted[-1]] * (slots - len(wanted))
    found = await _PENDING_IN[slots].run(conn, {f"b_{i}": v for i, v in enumerate(padded)})
    return [_Row(row) for row in found]


def _pending_query() -> Select[Any]:
    return select_devices(
        deliveries.c.id,
        deliveries.c.attempts,
        deliveries.c.first_attempt_at,
        deliveries.c.scheduled_at,
        deliveries.c.installation_pk,
        installations.c.contact_pk,
        installations.c.sandbox,
        installations.c.pk.is_not(None).label("present"),
        joined_to=deliveries.outerjoin(
            installations, deliveries.c.installation_pk == installations.c.pk
        ),
        outer=True,
    )


class _Row(dict[str, Any]):
    """A prepared row read by attribute, like a SQLAlchemy row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


#: The lengths of id list the read is prepared for: a SQLAlchemy execution costs more
#: than the read of a batch of small sends. A longer list (a page of a big send) is
#: read by one expanding query.
_SLOTS = (1, 4, 16, 64, 256)
# Built once: constructing the select costs more than running it for a batch of sends.
_PENDING_MANY = (
    _pending_query()
    .where(deliveries.c.id.in_(bindparam("b_ids", expanding=True)), deliveries.c.outcome == PENDING)
    .order_by(deliveries.c.id)
)


def _pending_in(slots: int) -> Prepared:
    ids = [bindparam(f"b_{i}", type_=deliveries.c.id.type) for i in range(slots)]
    return Prepared(
        _pending_query()
        .where(deliveries.c.id.in_(ids), deliveries.c.outcome == PENDING)
        .order_by(deliveries.c.id)
    )


_PENDING_IN = {slots: _pending_in(slots) for slots in _SLOTS}
