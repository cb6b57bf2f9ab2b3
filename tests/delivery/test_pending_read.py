"""The read of a batch's pending deliveries gives what one expanding query gives."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from clarion.store.devices import _PENDING_MANY, pending_rows
from clarion.store.engine import create_engine
from clarion.store.send_tables import deliveries
from clarion.store.sends import PENDING
from tests.delivery_env import DeliveryEnv


async def test_every_length_of_id_list_reads_the_same_rows(
    env: DeliveryEnv, database_url: str
) -> None:
    ids = [f"phone-{i}" for i in range(20)]
    for installation_id in ids:
        await env.ios(installation_id, language="fr", tags=["a"], attributes={"n": 1})
    send_id = await env.send({"recipients": {"installation_ids": ids}, "content": {"body": "x"}})
    await env.wait_done(send_id)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            # Pending again, as a retried batch would find them.
            await conn.execute(
                update(deliveries).where(deliveries.c.send_id == send_id).values(outcome=PENDING)
            )
            found = await conn.execute(
                select(deliveries.c.id).where(deliveries.c.send_id == send_id)
            )
            all_ids = sorted(int(row.id) for row in found)
        assert len(all_ids) == 20
        async with engine.connect() as conn:
            for wanted in (
                all_ids[:1],
                all_ids[2:5],
                [*all_ids[:5][::-1], all_ids[0], 10**12],
                all_ids[:17],
                all_ids,
            ):
                expected = [
                    dict(row._mapping)
                    for row in await conn.execute(_PENDING_MANY, {"b_ids": wanted})
                ]
                read: list[Any] = await pending_rows(conn, wanted)
                assert [dict(row) for row in read] == expected
                assert [row.id for row in read] == sorted(set(wanted) - {10**12})
                assert all(row.present and row.language == "fr" for row in read)
    finally:
        await engine.dispose()
