"""A Clarion app without workers, so tests drive the planner page by page themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from clarion.api.app import create_app
from clarion.api.state import AppState
from clarion.config import Settings
from clarion.delivery.jobs import DELIVER
from clarion.store.job_tables import jobs
from clarion.store.send_tables import deliveries
from tests.conftest import ADMIN_KEY, make_project


@dataclass
class PlanningApp:
    """The API of a worker-less Clarion, its state, and a project with one app."""

    http: httpx.AsyncClient
    state: AppState
    headers: dict[str, str]
    app_id: str

    async def add_devices(self, count: int) -> None:
        """Register `count` iOS devices, each with its own contact."""
        for index in range(count):
            body = {"platform": "ios", "token": f"{index:064x}", "external_id": f"c{index}"}
            response = await self.http.put(
                f"/v1/apps/{self.app_id}/installations/d{index}", json=body, headers=self.headers
            )
            assert response.status_code == 201, response.text

    async def broadcast(self, **fields: Any) -> str:
        """Accept a broadcast to everyone; return its id."""
        body = {"audience": {"all": True}, "content": {"body": "hi"}} | fields
        response = await self.http.post("/v1/sends", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        send_id: str = response.json()["id"]
        return send_id

    async def send_state(self, send_id: str) -> dict[str, Any]:
        """GET /v1/sends/{id}."""
        body: dict[str, Any] = (
            await self.http.get(f"/v1/sends/{send_id}", headers=self.headers)
        ).json()
        return body

    async def planned(self, send_id: str) -> tuple[list[str], list[int]]:
        """Installation ids of the send's deliveries, and the delivery ids its jobs carry."""
        async with self.state.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.installation_id).where(deliveries.c.send_id == send_id)
            )
            installation_ids = [r.installation_id for r in rows]
            payloads = await conn.execute(
                select(jobs.c.payload).where(jobs.c.send_id == send_id, jobs.c.kind == DELIVER)
            )
            job_ids = [int(i) for p in payloads for i in p.payload["delivery_ids"]]
        return installation_ids, job_ids


@asynccontextmanager
async def planning_app(database_url: str, tmp_path: Path) -> AsyncIterator[PlanningApp]:
    """Start the app with no in-process workers and prepare a project and an app."""
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        inprocess_workers=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            project = await make_project(http)
            app_id = f"{project.id}-app"
            response = await http.post(
                "/v1/apps", json={"id": app_id, "name": "A"}, headers=project.headers
            )
            assert response.status_code == 201
            yield PlanningApp(http, app.state.clarion, project.headers, app_id)
