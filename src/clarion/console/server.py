"""The HTTP server `clarion serve` runs: the native API with the console mounted at `/`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.console import (
    pages_auth,
    pages_content,
    pages_devices,
    pages_emulators,
    pages_overview,
    pages_registry,
    pages_send,
)
from clarion.console.context import HERE, BadForm, Redirect, redirect_response, render
from clarion.console.setup import ConsoleSetup

STATIC_PATH = "/console-assets"


def create_server(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    emulators: Any = None,
    freeze_start_up: bool = False,
) -> FastAPI:
    """The API application plus the console pages and their assets."""
    app = create_app(settings, migrate=migrate, freeze_start_up=freeze_start_up)
    app.state.console = ConsoleSetup(emulators=emulators)
    for module in (
        pages_auth,
        pages_overview,
        pages_send,
        pages_devices,
        pages_registry,
        pages_content,
        pages_emulators,
    ):
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=str(HERE / "static")), name="console-assets")

    @app.exception_handler(Redirect)
    async def _redirect(request: Request, exc: Redirect) -> Response:
        return redirect_response(exc)

    @app.exception_handler(BadForm)
    async def _bad_form(request: Request, exc: BadForm) -> Response:
        return render(request, "fragments/error.html", 400, error="The form expired; reload it.")

    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> Response:
        return RedirectResponse(f"{STATIC_PATH}/favicon.svg", status_code=301)

    return app
