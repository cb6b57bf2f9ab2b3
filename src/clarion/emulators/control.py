"""The `/_emulator/*` control routes: recorded deliveries and fault rules over HTTP."""

from __future__ import annotations

from aiohttp import web

from clarion.emulators.faults import FaultRuleError, FaultRules
from clarion.emulators.records import Recorder


def json_error(status: int, message: str) -> web.Response:
    """A control API error body."""
    return web.json_response({"error": {"message": message}}, status=status)


async def read_json_object(request: web.Request) -> dict[str, object] | web.Response:
    """The request body as a JSON object, or a 400 response to return."""
    try:
        doc = await request.json()
    except ValueError:
        return json_error(400, "the body is not valid JSON")
    if not isinstance(doc, dict):
        return json_error(400, "the body must be a JSON object")
    return doc


def add_control_routes(app: web.Application, recorder: Recorder, faults: FaultRules) -> None:
    """Expose deliveries, rejections and fault rules under `/_emulator/`."""

    async def list_deliveries(request: web.Request) -> web.Response:
        target = request.query.get("target")
        items = [d.to_json() for d in recorder.deliveries if target in (None, d.target)]
        return web.json_response({"deliveries": items, "total": recorder.accepted_total})

    async def clear_records(request: web.Request) -> web.Response:
        recorder.clear()
        return web.Response(status=204)

    async def list_rejections(request: web.Request) -> web.Response:
        items = [r.to_json() for r in recorder.rejections]
        return web.json_response({"rejections": items, "total": recorder.rejected_total})

    async def show_faults(request: web.Request) -> web.Response:
        return web.json_response(faults.to_json())

    async def add_faults(request: web.Request) -> web.Response:
        doc = await read_json_object(request)
        if isinstance(doc, web.Response):
            return doc
        try:
            faults.apply_json(doc)
        except FaultRuleError as error:
            return json_error(400, str(error))
        return web.json_response(faults.to_json())

    async def clear_faults(request: web.Request) -> web.Response:
        target = request.query.get("target")
        if target is None:
            faults.clear()
        else:
            faults.clear_outcome(target)
        return web.Response(status=204)

    app.router.add_get("/_emulator/deliveries", list_deliveries)
    app.router.add_delete("/_emulator/deliveries", clear_records)
    app.router.add_get("/_emulator/rejections", list_rejections)
    app.router.add_get("/_emulator/faults", show_faults)
    app.router.add_post("/_emulator/faults", add_faults)
    app.router.add_delete("/_emulator/faults", clear_faults)
