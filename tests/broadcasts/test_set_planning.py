"""Broadcast pages are planned in the database: devices never travel through Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from clarion.delivery.planner import Planner
from clarion.store.send_tables import deliveries
from tests.broadcasts.planning_app import planning_app

DEVICES = 40


def _size(parameters: Any) -> int:
    return len(parameters) if isinstance(parameters, tuple | list | dict) else 1


async def test_a_page_sends_no_device_values_to_the_database(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(DEVICES - 1)
        anonymous = {"platform": "android", "token": "t" * 40}
        response = await harness.http.put(
            f"/v1/apps/{harness.app_id}/installations/anon",
            json=anonymous,
            headers=harness.headers,
        )
        assert response.status_code == 201, response.text
        send_id = await harness.broadcast()
        values: list[int] = []

        def count(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            # Only what reads devices or writes deliveries; jobs are the queue's business.
            if "deliveries" in statement or "installations" in statement:
                rows = params if many else [params]
                values.append(sum(_size(row) for row in rows))

        engines = {harness.state.engine.sync_engine, harness.state.queue.engine.sync_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", count)
        try:
            planner = Planner(harness.state.engine, harness.state.queue, page_size=DEVICES)
            assert await planner.plan_page(send_id) is True
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", count)
        assert sum(values) < DEVICES, values

        async with harness.state.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        deliveries.c.installation_id,
                        deliveries.c.recipient_kind,
                        deliveries.c.recipient,
                        deliveries.c.platform,
                        deliveries.c.outcome,
                    ).where(deliveries.c.send_id == send_id)
                )
            ).all()
        by_device = {r.installation_id: r for r in rows}
        assert len(rows) == len(by_device) == DEVICES
        assert tuple(by_device["d3"])[1:] == ("external_id", "c3", "ios", "pending")
        assert tuple(by_device["anon"])[1:] == ("installation_id", "anon", "android", "pending")
        state = await harness.send_state(send_id)
        assert state["counts"]["targeted"] == DEVICES
