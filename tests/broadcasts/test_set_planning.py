"""Broadcast pages are planned in the database: devices never travel through Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from clarion.delivery.jobs import DELIVER
from clarion.delivery.planner import Planner
from clarion.store.job_tables import jobs
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


async def test_a_page_cuts_its_deliveries_into_jobs_of_one_batch_each(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(10)
        send_id = await harness.broadcast()
        planner = Planner(harness.state.engine, harness.state.queue, page_size=7, batch_size=3)
        while await planner.plan_page(send_id):
            pass
        async with harness.state.engine.connect() as conn:
            made = (
                await conn.execute(select(deliveries.c.id).where(deliveries.c.send_id == send_id))
            ).scalars()
            delivery_ids = sorted(made)
            payloads = list(
                (
                    await conn.execute(
                        select(jobs.c.payload)
                        .where(jobs.c.send_id == send_id, jobs.c.kind == DELIVER)
                        .order_by(jobs.c.id)
                    )
                ).scalars()
            )
        batches = [p["delivery_ids"] for p in payloads]
        # Two pages (7 and 3 devices), each cut on its own, ids in order within a job.
        assert [len(b) for b in batches] == [3, 3, 1, 3]
        assert all(b == sorted(b) for b in batches)
        assert sorted(i for b in batches for i in b) == delivery_ids
        assert {p["send_id"] for p in payloads} == {send_id}
