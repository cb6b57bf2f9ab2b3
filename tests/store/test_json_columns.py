"""JSON columns read back as new objects on every backend, empty ones included."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select

from clarion.store.engine import create_engine


async def test_empty_lists_and_objects_read_back_as_new_objects(
    database_url: str, tmp_path: Path
) -> None:
    table = Table(
        "json_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("value", JSON, nullable=True),
    )
    engine = create_engine(database_url)
    values = [[], {}, [1, "a"], {"k": [True, None]}, None, [], {}]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.create)
            await conn.execute(insert(table), [{"id": i, "value": v} for i, v in enumerate(values)])
        async with engine.connect() as conn:
            found = list((await conn.execute(select(table.c.value).order_by(table.c.id))).scalars())
        assert found == values
        # Each row its own object: changing what one row gave leaves the others alone.
        found[0].append("x")
        found[1]["x"] = 1
        assert found[5] == [] and found[6] == {}
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.drop)
        await engine.dispose()
