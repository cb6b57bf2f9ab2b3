"""The device debugger: find a contact or installation, see its devices and deliveries, test it."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.console import queries
from clarion.console.context import Console, checked_form, signed_in, text
from clarion.domain.vocabulary import FINAL_STATUSES

router = APIRouter(include_in_schema=False)

#: How long a test push is waited for before the page answers with what is known.
TEST_WAIT_SECONDS = 10.0


async def _lookup(console: Console, search: str) -> dict[str, Any]:
    if not search:
        return {"devices": [], "contact": None, "deliveries": []}
    async with console.state.engine.connect() as conn:
        devices = await queries.find_devices(
            conn, console.project_id, console.principal.app_ids, search
        )
        pairs = [(d["app_id"], d["installation_id"]) for d in devices]
        deliveries = await queries.recent_deliveries(conn, console.project_id, pairs)
    contact = None
    external_ids = {d["external_id"] for d in devices if d["external_id"]}
    if len(external_ids) == 1:
        answer = await console.api.get(f"/v1/contacts/{next(iter(external_ids))}")
        contact = answer.body if answer.ok else None
    return {"devices": devices, "contact": contact, "deliveries": deliveries}


@router.get("/devices")
async def debugger(console: Console = Depends(signed_in)) -> Response:
    """Search a contact external id, an installation id or a token."""
    search = console.param("q", 4096)
    found = await _lookup(console, search)
    return console.render("devices.html", search=search, test=None, **found)


async def _wait_for(console: Console, send_id: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TEST_WAIT_SECONDS
    while True:
        answer = await console.api.get(f"/v1/sends/{send_id}")
        if not answer.ok or answer.body["status"] in FINAL_STATUSES:
            break
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    trail = await console.api.get(f"/v1/sends/{send_id}/deliveries", limit=10)
    return {
        "send": answer.body if answer.ok else None,
        "deliveries": trail.body.get("data", []) if trail.ok else [],
    }


@router.post("/devices/test")
async def test_push(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Send a test push to one installation and show the provider's answer inline."""
    form = await checked_form(request, console.session)
    search = text(form, "q")[:4096]
    app_id = text(form, "app_id")[:64]
    installation_id = text(form, "installation_id")[:256]
    body = {
        "recipients": {"installation_ids": [installation_id]},
        "apps": [app_id],
        "content": {
            "title": text(form, "title")[:200] or "Test from the Clarion console",
            "body": text(form, "body")[:1000] or "If you can read this, the device is reachable.",
        },
    }
    answer = await console.api.post(
        "/v1/sends", body, headers={"Idempotency-Key": "console-test-" + secrets.token_urlsafe(12)}
    )
    if answer.ok:
        test = {
            "ok": True,
            "installation_id": installation_id,
            **await _wait_for(console, answer.body["id"]),
        }
    else:
        test = {"ok": False, "installation_id": installation_id, "error": answer.error}
    found = await _lookup(console, search)
    return console.render("devices.html", search=search, test=test, **found)
