"""Ids of the tables that grow with traffic are 64-bit on PostgreSQL and work past 2^31."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import BigInteger, select, text

import clarion.store.all_tables  # noqa: F401  (registers every table on the metadata)
from clarion.store.caps import cap_hits
from clarion.store.engine import create_engine
from clarion.store.metadata import metadata
from clarion.store.tables import contacts, installations
from tests.delivery_env import delivery_env

PAST_INT32 = 2**31 + 1000

WIDENED = {
    ("contacts", "pk"),
    ("installations", "pk"),
    ("installations", "contact_pk"),
    ("deliveries", "id"),
    ("deliveries", "installation_pk"),
    ("events", "id"),
    ("events", "installation_pk"),
    ("events", "delivery_id"),
    ("inbox_items", "id"),
    ("inbox_items", "contact_pk"),
    ("cap_hits", "id"),
    ("cap_hits", "contact_pk"),
    ("list_members", "contact_pk"),
    ("sends", "plan_cursor"),
    ("jobs", "id"),
}
SEQUENCES = {
    "contacts_pk_seq",
    "installations_pk_seq",
    "deliveries_id_seq",
    "events_id_seq",
    "inbox_items_id_seq",
    "cap_hits_id_seq",
    "jobs_id_seq",
}


@pytest.mark.parametrize("own_database_url", ["postgresql"], indirect=True)
async def test_traffic_ids_are_64_bit_and_work_past_2_pow_31(
    own_database_url: str, tmp_path: Path
) -> None:
    async with delivery_env(own_database_url, tmp_path) as env:
        engine = create_engine(own_database_url)
        try:
            async with engine.begin() as conn:
                columns = {
                    (row.table_name, row.column_name): row.data_type
                    for row in await conn.execute(
                        text(
                            "SELECT table_name, column_name, data_type "
                            "FROM information_schema.columns WHERE table_schema = 'public'"
                        )
                    )
                }
                assert {columns[c] for c in WIDENED} == {"bigint"}, columns
                # The table definitions say the same as the migrated schema.
                declared = {
                    (table.name, column.name)
                    for table in metadata.tables.values()
                    for column in table.columns
                    if isinstance(column.type.dialect_impl(conn.dialect), BigInteger)
                }
                assert declared == WIDENED
                sequences = {
                    row.sequence_name: row.data_type
                    for row in await conn.execute(
                        text("SELECT sequence_name, data_type FROM information_schema.sequences")
                    )
                }
                assert {sequences[s] for s in SEQUENCES} == {"bigint"}, sequences
                for name in SEQUENCES:
                    await conn.execute(text(f"SELECT setval('{name}', {PAST_INT32})"))

            response = await env.http.put(
                "/v1/caps/news", json={"max": 5, "period_seconds": 3600}, headers=env.headers
            )
            assert response.status_code == 201, response.text
            await env.ios("iphone", external_id="ann")
            send_id = await env.send(
                {
                    "recipients": {"external_ids": ["ann"]},
                    "content": {"title": "Hi", "body": "there"},
                    "options": {"labels": ["news"]},
                    "inbox": {},
                }
            )
            done = await env.wait_done(send_id, seconds=30)
            assert done["counts"]["sent"] == 1, done
            (delivery,) = await env.deliveries(send_id)
            assert delivery["id"] > PAST_INT32, delivery

            inbox = await env.http.get("/v1/contacts/ann/inbox", headers=env.headers)
            assert inbox.json()["data"][0]["id"] > PAST_INT32, inbox.text
            public_key = (await env.http.get(f"/v1/apps/{env.app_id}", headers=env.headers)).json()[
                "public_key"
            ]
            event = await env.http.post(
                "/v1/events",
                json={"installation_id": "iphone", "type": "opened", "delivery_id": delivery["id"]},
                headers={"Clarion-App-Key": public_key},
            )
            assert event.status_code == 202, event.text
            assert event.json()["id"] > PAST_INT32 and event.json()["send_id"] == send_id

            async with engine.connect() as conn:
                for column in (contacts.c.pk, installations.c.pk, cap_hits.c.id):
                    assert (await conn.execute(select(column))).scalar_one() > PAST_INT32
        finally:
            await engine.dispose()
