"""Broadcast planning page by page: resuming after a crash, racing runs, cancel mid-way."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from clarion.delivery.jobs import PLAN_SEND
from clarion.delivery.planner import Planner
from clarion.queue.models import Job
from tests.broadcasts.planning_app import PlanningApp, planning_app


async def _plan_jobs(harness: PlanningApp) -> list[Job]:
    # The PostgreSQL database is shared by the run: other tests' jobs may be due too.
    return await harness.state.queue.claim("restarted", 1000, 30, kinds=[PLAN_SEND])


async def test_planner_resumes_after_a_crash_between_pages(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(7)
        send_id = await harness.broadcast()
        state = harness.state
        first = Planner(state.engine, state.queue, page_size=3)
        assert await first.plan_page(send_id) is True
        # The process dies here: one page committed, its plan job still leased or queued.
        after_crash = await harness.send_state(send_id)
        assert after_crash["status"] == "planning" and after_crash["counts"]["targeted"] == 3
        planned, in_jobs = await harness.planned(send_id)
        assert sorted(planned) == ["d0", "d1", "d2"] and len(in_jobs) == 3

        (job,) = [j for j in await _plan_jobs(harness) if j.send_id == send_id]
        await Planner(state.engine, state.queue, page_size=3).handle(job)
        planned, in_jobs = await harness.planned(send_id)
        assert Counter(planned) == Counter(f"d{i}" for i in range(7))
        assert len(in_jobs) == len(set(in_jobs)) == 7
        final = await harness.send_state(send_id)
        assert final["status"] == "delivering" and final["counts"]["targeted"] == 7
        assert final["counts"]["pending"] == 7


async def test_two_runs_of_one_plan_job_never_plan_a_page_twice(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(10)
        send_id = await harness.broadcast()
        state = harness.state
        planners = [Planner(state.engine, state.queue, page_size=2) for _ in range(2)]

        async def run(planner: Planner) -> None:
            while await planner.plan_page(send_id):
                pass

        await asyncio.gather(*(run(p) for p in planners))
        planned, in_jobs = await harness.planned(send_id)
        assert Counter(planned) == Counter(f"d{i}" for i in range(10))
        assert len(in_jobs) == len(set(in_jobs)) == 10


async def test_cancel_during_planning_stops_the_remaining_pages(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(6)
        send_id = await harness.broadcast()
        state = harness.state
        planner = Planner(state.engine, state.queue, page_size=2)
        assert await planner.plan_page(send_id) is True
        response = await harness.http.post(f"/v1/sends/{send_id}/cancel", headers=harness.headers)
        assert response.status_code == 200, response.text
        assert await planner.plan_page(send_id) is False
        # The plan job was cancelled with the send: nothing is left to claim.
        assert [j for j in await _plan_jobs(harness) if j.send_id == send_id] == []
        planned, _ = await harness.planned(send_id)
        assert sorted(planned) == ["d0", "d1"]
        final = await harness.send_state(send_id)
        assert final["status"] == "cancelled"
        assert final["counts"]["cancelled"] == 2 and final["counts"]["pending"] == 0
        counts = await state.queue.counts(send_id)
        assert counts.get("queued", 0) == 0 and counts.get("leased", 0) == 0


async def test_a_list_deleted_before_planning_ends_the_send(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(2)
        created = await harness.http.post("/v1/lists", json={"name": "l"}, headers=harness.headers)
        list_id = created.json()["id"]
        send_id = await harness.broadcast(audience={"list_id": list_id})
        await harness.http.delete(f"/v1/lists/{list_id}", headers=harness.headers)
        planner = Planner(harness.state.engine, harness.state.queue)
        assert await planner.plan_page(send_id) is False
        final = await harness.send_state(send_id)
        assert final["status"] == "done" and final["counts"]["targeted"] == 0
        assert final["error"] == "audience.list_id: list not found"


async def test_an_exclusion_list_deleted_half_way_ends_the_send(
    database_url: str, tmp_path: Path
) -> None:
    async with planning_app(database_url, tmp_path) as harness:
        await harness.add_devices(6)
        created = await harness.http.post("/v1/lists", json={"name": "x"}, headers=harness.headers)
        list_id = created.json()["id"]
        members = {"external_ids": ["c2", "c3", "c4", "c5"]}
        added = await harness.http.post(
            f"/v1/lists/{list_id}/members", json=members, headers=harness.headers
        )
        assert added.status_code < 300, added.text
        send_id = await harness.broadcast(exclude_lists=[list_id])
        planner = Planner(harness.state.engine, harness.state.queue, page_size=2)
        plan = await planner.page_plan(send_id)
        assert plan is not None
        plan = await planner.plan(plan)
        assert plan is not None
        # Read once for the whole run: deleting the list must still stop the next pages,
        # or the contacts it excluded would be sent to.
        await harness.http.delete(f"/v1/lists/{list_id}", headers=harness.headers)
        assert await planner.plan(plan) is None
        planned, _ = await harness.planned(send_id)
        assert sorted(planned) == ["d0", "d1"]
        final = await harness.send_state(send_id)
        assert final["status"] == "done"
        assert final["error"] == "exclude_lists[0]: list not found"
