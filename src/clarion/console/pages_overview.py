"""The overview: devices per app and platform, provider health, sends over time, top errors."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from starlette.responses import Response

from clarion.console import queries
from clarion.console.charts import period_chart
from clarion.console.context import Console, signed_in
from clarion.store.types import utcnow

router = APIRouter(include_in_schema=False)

SERIES = ("targeted", "sent", "errors", "opened")


@router.get("/")
async def overview(console: Console = Depends(signed_in)) -> Response:
    """The project at a glance."""
    now = utcnow()
    apps_answer = await console.api.get("/v1/apps", limit=100)
    apps = apps_answer.body.get("data", []) if apps_answer.ok else []
    async with console.state.engine.connect() as conn:
        devices = await queries.device_counts(conn, console.project_id, console.principal.app_ids)
        health = await queries.provider_health(conn, console.project_id)
        day_start = (now - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)
        week = await queries.sends_over_time(
            conn, console.project_id, day_start, timedelta(days=1), 7
        )
        hour_start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
        hours = await queries.sends_over_time(
            conn, console.project_id, hour_start, timedelta(hours=1), 24
        )
        errors = await queries.top_errors(conn, console.project_id, now - timedelta(days=7))
    providers = {}
    for app in apps:
        answer = await console.api.get(f"/v1/apps/{app['id']}/providers")
        providers[app["id"]] = answer.body.get("data", []) if answer.ok else []
    last_day = {name: sum(values[name] for _, values in hours) for name in SERIES}
    return console.render(
        "overview.html",
        apps=apps,
        devices=devices,
        providers=providers,
        health=health,
        week_chart=period_chart(week, SERIES, "%d %b", "Sends per day, last 7 days"),
        day_chart=period_chart(hours, SERIES, "%H:00", "Sends per hour, last 24 hours"),
        last_day=last_day,
        week_total={name: sum(values[name] for _, values in week) for name in SERIES},
        series=SERIES,
        errors=errors,
    )
