"""The emulators page (under `--demo`): what each emulator received, and its fault rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from clarion.console.context import Console, checked_form, signed_in, text
from clarion.console.mockups import mockups_of
from clarion.console.setup import setup_of
from clarion.emulators.faults import FaultRuleError

router = APIRouter(include_in_schema=False)

PROVIDERS = (("apns", "apns"), ("fcm", "fcm"), ("webpush", "webpush"), ("sms", "sms"))
SHOWN = 20


def _shown(provider: str, record: Any) -> dict[str, Any]:
    view = record.to_json()
    payload = view.get("payload")
    if provider == "sms":
        text = payload.get("body", "") if isinstance(payload, dict) else str(payload or "")
        mockup = {"title": "SMS", "subtitle": "", "body": str(text), "image": ""}
    else:
        mockup = mockups_of({"provider": provider, "request": {"json": payload}})
    return {
        "target": view["target"],
        "received": datetime.fromtimestamp(view["received_at"], UTC).isoformat()[:19],
        "mockup": mockup,
        "provider": provider,
    }


def _no_emulators(console: Console) -> Response:
    return console.render(
        "fragments/error.html",
        404,
        error="No emulator runs in this process (start with `clarion serve --demo`).",
        page=True,
    )


@router.get("/emulators")
async def emulators(console: Console = Depends(signed_in)) -> Response:
    """Notifications each emulator received, newest first, and the fault rules in force."""
    return await _page(console)


async def _page(console: Console, status: int = 200, error: str | None = None) -> Response:
    suite = setup_of(console.request).emulators
    if suite is None:
        return _no_emulators(console)
    panels = []
    for name, provider in PROVIDERS:
        emulator = getattr(suite, name)
        records = list(emulator.recorder.deliveries)[-SHOWN:]
        panels.append(
            {
                "name": name,
                "total": emulator.recorder.accepted_total,
                "rejected": emulator.recorder.rejected_total,
                "items": [_shown(provider, r) for r in reversed(records)],
                "faults": emulator.faults.to_json(),
            }
        )
    return console.render("emulators.html", status, panels=panels, error=error)


@router.post("/emulators/{name}/faults")
async def add_fault(name: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    """Make the emulator answer one target (token, endpoint, number) with an error."""
    form = await checked_form(request, console.session)
    suite = setup_of(console.request).emulators
    if suite is None or name not in dict(PROVIDERS):
        return _no_emulators(console)
    if not console.can("send"):
        return await _page(console, 403, "Changing fault rules needs the `send` scope.")
    status_text = text(form, "status")
    try:
        status = int(status_text) if status_text else None
        target, reason = text(form, "target")[:4096], text(form, "reason")[:128]
        if not target or not reason:
            raise FaultRuleError("give the target and the reason")
        getattr(suite, name).faults.set_outcome(target, reason, status)
    except (FaultRuleError, ValueError) as exc:
        return await _page(console, 400, f"{name}: {exc}")
    return RedirectResponse("/emulators", status_code=303)


@router.post("/emulators/{name}/faults/clear")
async def clear_faults(
    name: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    """Remove every fault rule of one emulator."""
    await checked_form(request, console.session)
    suite = setup_of(console.request).emulators
    if suite is None or name not in dict(PROVIDERS):
        return _no_emulators(console)
    if not console.can("send"):
        return await _page(console, 403, "Changing fault rules needs the `send` scope.")
    getattr(suite, name).faults.clear()
    return RedirectResponse("/emulators", status_code=303)
