"""A list naming devices by one column is planned in the database, with the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, select, update

from clarion.delivery.jobs import DELIVER, PLAN_SEND
from clarion.delivery.planner import Planner
from clarion.queue.models import Job
from clarion.store.job_tables import jobs
from clarion.store.send_tables import deliveries
from clarion.store.tables import installations
from clarion.store.types import utcnow
from tests.broadcasts.planning_app import PlanningApp, planning_app


async def _rows(harness: PlanningApp, send_id: str) -> list[tuple[object, ...]]:
    async with harness.state.engine.connect() as conn:
        found = await conn.execute(
            select(
                deliveries.c.installation_id,
                deliveries.c.app_id,
                deliveries.c.recipient_kind,
                deliveries.c.recipient,
                deliveries.c.outcome,
                deliveries.c.provider_reason,
                deliveries.c.completed_at.is_not(None),
            )
            .where(deliveries.c.send_id == send_id)
            .order_by(deliveries.c.id)
        )
        return [tuple(row) for row in found]


async def _batches(harness: PlanningApp, send_id: str) -> tuple[list[list[int]], list[int]]:
    async with harness.state.engine.connect() as conn:
        payloads = await conn.execute(
            select(jobs.c.payload)
            .where(jobs.c.send_id == send_id, jobs.c.kind == DELIVER)
            .order_by(jobs.c.id)
        )
        batches = [list(p["delivery_ids"]) for p in payloads.scalars()]
        pending = await conn.execute(
            select(deliveries.c.id)
            .where(deliveries.c.send_id == send_id, deliveries.c.outcome == "pending")
            .order_by(deliveries.c.id)
        )
        return batches, list(pending.scalars())


async def _send(harness: PlanningApp, body: dict[str, object]) -> str:
    response = await harness.http.post(
        "/v1/sends", json=body | {"content": {"body": "hi"}}, headers=harness.headers
    )
    assert response.status_code == 201, response.text
    send_id: str = response.json()["id"]
    return send_id


async def test_installation_ids_are_planned_in_list_order_with_invalid_and_unknown_ones(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(4)
        async with harness.state.engine.begin() as conn:
            await conn.execute(
                update(installations)
                .where(installations.c.installation_id == "d1")
                .values(invalidated_at=installations.c.updated_at, invalid_reason="Unregistered")
            )
            await conn.execute(
                update(installations)
                .where(installations.c.installation_id == "d3")
                .values(invalidated_at=installations.c.updated_at)
            )
        wanted = ["d2", "nobody", "d0", "d1", "d3", "nobody-else"]
        send_id = await _send(harness, {"recipients": {"installation_ids": wanted}})
        app = harness.app_id
        assert await _rows(harness, send_id) == [
            ("d2", app, "installation_id", "d2", "pending", None, False),
            ("d0", app, "installation_id", "d0", "pending", None, False),
            ("d1", app, "installation_id", "d1", "undeliverable", "Unregistered", True),
            ("d3", app, "installation_id", "d3", "undeliverable", "invalidated", True),
            (None, None, "installation_id", "nobody", "not_found", None, True),
            (None, None, "installation_id", "nobody-else", "not_found", None, True),
        ]
        batches, pending = await _batches(harness, send_id)
        assert batches == [pending] and len(pending) == 2
        state = await harness.send_state(send_id)
        assert state["status"] == "delivering"
        assert state["counts"]["targeted"] == 4


async def test_tokens_reach_only_the_apps_the_send_names(database_url: str, tmp_path: Path) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(2)
        other = f"{harness.app_id}-other"
        response = await harness.http.post(
            "/v1/apps", json={"id": other, "name": "B"}, headers=harness.headers
        )
        assert response.status_code == 201, response.text
        token = f"{0:064x}"
        response = await harness.http.put(
            f"/v1/apps/{other}/installations/o0",
            json={"platform": "ios", "token": token},
            headers=harness.headers,
        )
        assert response.status_code == 201, response.text
        both = await _send(harness, {"recipients": {"tokens": [token]}})
        assert [row[:2] for row in await _rows(harness, both)] == [
            ("d0", harness.app_id),
            ("o0", other),
        ]
        only = await _send(
            harness, {"recipients": {"tokens": [token, f"{1:064x}"]}, "apps": [other]}
        )
        assert await _rows(harness, only) == [
            ("o0", other, "token", token, "pending", None, False),
            (None, None, "token", f"{1:064x}", "not_found", None, True),
        ]
        assert (await harness.send_state(only))["counts"]["targeted"] == 1


async def test_a_list_matching_nothing_ends_the_send(database_url: str, tmp_path: Path) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        send_id = await _send(harness, {"recipients": {"installation_ids": ["a", "b"]}})
        assert [row[4] for row in await _rows(harness, send_id)] == ["not_found", "not_found"]
        assert await _batches(harness, send_id) == ([], [])
        state = await harness.send_state(send_id)
        assert state["status"] == "done" and state["counts"]["targeted"] == 0


async def test_a_long_list_sends_its_values_as_one_parameter(
    database_url: str, tmp_path: Path
) -> None:
    devices = 120
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(devices)
        values: list[int] = []

        def count(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            if "INSERT INTO deliveries" in statement or "FROM installations" in statement:
                for row in params if many else [params]:
                    values.append(len(row) if isinstance(row, tuple | list | dict) else 1)

        engines = {harness.state.engine.sync_engine, harness.state.queue.engine.sync_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", count)
        ids = [f"d{i}" for i in range(devices)]
        # More recipients than accept plans itself: the planning job does it.
        send_id = await _send(harness, {"recipients": {"installation_ids": ids}})
        now = utcnow()
        job = Job(1, PLAN_SEND, {"send_id": send_id}, send_id, 0, 1, 3, "test", now, None, now)
        try:
            await Planner(harness.state.engine, harness.state.queue).handle(job)
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", count)
        assert 0 < sum(values) < devices, values
        rows = await _rows(harness, send_id)
        assert [row[0] for row in rows] == ids
