"""Small sends accepted together are written together, each with its own rows, jobs and status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from clarion.store.send_tables import deliveries, sends
from tests.conftest import Project, make_project, make_settings, running_client

DEVICES = 30


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Clarion without workers: what accept wrote stays as it wrote it."""
    settings = make_settings(database_url, tmp_path, inprocess_workers=False)
    async with running_client(settings) as http:
        yield http


async def _devices(client: httpx.AsyncClient, project: Project) -> None:
    app_id = f"{project.id}-app"
    await client.post("/v1/apps", json={"id": app_id, "name": "A"}, headers=project.headers)
    for index in range(DEVICES):
        body = {"platform": "ios", "token": f"{index:064x}"}
        reply = await client.put(
            f"/v1/apps/{app_id}/installations/d{index}", json=body, headers=project.headers
        )
        assert reply.status_code in (200, 201), reply.text


async def _rows(database_url: str, project_id: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The project's sends, their deliveries and jobs (the database may hold other tests')."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            mine = select(sends.c.id).where(sends.c.project_id == project_id)
            found_sends = (
                (await conn.execute(select(sends).where(sends.c.project_id == project_id)))
                .mappings()
                .all()
            )
            found_deliveries = (
                (await conn.execute(select(deliveries).where(deliveries.c.send_id.in_(mine))))
                .mappings()
                .all()
            )
            found_jobs = (
                (await conn.execute(select(jobs).where(jobs.c.send_id.in_(mine)))).mappings().all()
            )
    finally:
        await engine.dispose()
    return list(found_sends), list(found_deliveries), list(found_jobs)


async def test_concurrent_small_sends_each_get_their_own_rows_and_jobs(
    client: httpx.AsyncClient, database_url: str
) -> None:
    project = await make_project(client)
    await _devices(client, project)
    key = uuid.uuid4().hex

    async def post(body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return await client.post("/v1/sends", json=body, headers=project.headers | headers)

    bodies = [
        ({"recipients": {"installation_ids": [f"d{i}"]}, "content": {"body": f"n{i}"}}, {})
        for i in range(DEVICES)
    ]
    # A device nobody has, and one request sent twice at once under one key.
    bodies.append(({"recipients": {"installation_ids": ["nobody"]}, "content": {"body": "x"}}, {}))
    repeated = {"recipients": {"installation_ids": ["d0", "d1"]}, "content": {"body": "twice"}}
    bodies += [(repeated, {"Idempotency-Key": key})] * 2
    replies = await asyncio.gather(*(post(body, headers) for body, headers in bodies))

    assert all(r.status_code in (200, 201) for r in replies), [r.text for r in replies]
    twice = replies[-2:]
    assert sorted(r.status_code for r in twice) == [200, 201]
    assert twice[0].json()["id"] == twice[1].json()["id"]

    found_sends, found_deliveries, found_jobs = await _rows(database_url, project.id)
    by_id = {row["id"]: row for row in found_sends}
    assert len(by_id) == DEVICES + 2
    rows_of: dict[str, list[Any]] = {}
    for row in found_deliveries:
        rows_of.setdefault(row["send_id"], []).append(row)
    for index, reply in enumerate(replies[:DEVICES]):
        send_id = reply.json()["id"]
        assert by_id[send_id]["status"] == "delivering" and by_id[send_id]["targeted"] == 1
        (row,) = rows_of[send_id]
        assert row["installation_id"] == f"d{index}" and row["outcome"] == "pending"
        (job,) = [j for j in found_jobs if j["send_id"] == send_id]
        assert job["kind"] == "deliver" and job["status"] == "queued"
        assert job["payload"] == {"send_id": send_id, "delivery_ids": [row["id"]]}
    nobody = replies[DEVICES].json()["id"]
    assert by_id[nobody]["status"] == "done" and by_id[nobody]["completed_at"] is not None
    assert [row["outcome"] for row in rows_of[nobody]] == ["not_found"]
    assert not [j for j in found_jobs if j["send_id"] == nobody]
    shared = twice[0].json()["id"]
    assert by_id[shared]["targeted"] == 2
    (job,) = [j for j in found_jobs if j["send_id"] == shared]
    assert sorted(job["payload"]["delivery_ids"]) == sorted(r["id"] for r in rows_of[shared])
