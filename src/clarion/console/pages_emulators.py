"""The emulators page (under `--demo`): what each emulator received, and its fault rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from clarion.console.context import Console, signed_in
from clarion.console.mockups import mockups_of
from clarion.console.setup import setup_of

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


@router.get("/emulators")
async def emulators(console: Console = Depends(signed_in)) -> Response:
    """Notifications each emulator received, newest first, and the fault rules in force."""
    suite = setup_of(console.request).emulators
    if suite is None:
        return console.render(
            "fragments/error.html",
            404,
            error="No emulator runs in this process (start with `clarion serve --demo`).",
            page=True,
        )
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
    return console.render("emulators.html", panels=panels)
