"""`clarion sends`: a test push, the sends of a project and each one's per-device trail."""

from __future__ import annotations

import time
from typing import Any

import typer

from clarion.cli_http import Api, FieldOption, JsonOption, KeyOption, ProjectOption, UrlOption, show
from clarion.domain.vocabulary import FINAL_STATUSES

sends_app = typer.Typer(no_args_is_help=True, help="Send a test push; read sends and their trail.")

#: Columns of the sends table.
SEND_COLUMNS = (
    "id",
    "kind",
    "status",
    "created_at",
    "completed_at",
    "error",
)
TRAIL_COLUMNS = (
    "installation_id",
    "platform",
    "outcome",
    "provider_status",
    "provider_reason",
    "attempts",
    "last_attempt_at",
)


def _wait(api: Api, send_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        send: dict[str, Any] = api.call("GET", f"/v1/sends/{send_id}")
        if send["status"] in FINAL_STATUSES or time.monotonic() > deadline:
            return send
        time.sleep(0.2)


@sends_app.command("test")
def sends_test(
    installation: list[str] = typer.Option(
        [], "--installation", help="Installation id to send to (repeatable)."
    ),
    external_id: list[str] = typer.Option(
        [], "--external-id", help="Contact whose devices to send to (repeatable)."
    ),
    app: list[str] = typer.Option([], "--app", help="Only devices of this app (repeatable)."),
    title: str = typer.Option("Test", help="Notification title."),
    body: str = typer.Option("Sent from the clarion command line", help="Notification body."),
    wait: bool = typer.Option(False, "--wait", help="Wait until every device has its outcome."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the send id."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Send a test push to some installations or contacts."""
    if not installation and not external_id:
        raise typer.BadParameter("name at least one --installation or --external-id")
    recipients: dict[str, Any] = {}
    if installation:
        recipients["installation_ids"] = installation
    if external_id:
        recipients["external_ids"] = external_id
    request: dict[str, Any] = {"recipients": recipients, "content": {"title": title, "body": body}}
    if app:
        request["apps"] = app
    api = Api.of(url, key, project)
    answer = api.call("POST", "/v1/sends", request)
    if wait:
        answer = _wait(api, answer["id"], 60.0)
    if quiet:
        typer.echo(answer["id"])
    else:
        show(answer, as_json)


@sends_app.command("list")
def sends_list(
    limit: int = typer.Option(20, help="How many of the newest sends."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """List the newest sends."""
    page = Api.of(url, key, project).call("GET", f"/v1/sends?limit={limit}")
    show(page["data"], as_json, SEND_COLUMNS)


@sends_app.command("show")
def sends_show(
    send_id: str,
    wait: bool = typer.Option(False, "--wait", help="Wait until the send has ended (60 s)."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a send's status and counts per outcome."""
    api = Api.of(url, key, project)
    show(_wait(api, send_id, 60.0 if wait else 0.0), as_json, field=field)


@sends_app.command("trail")
def sends_trail(
    send_id: str,
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show what became of each device of a send, with the provider's answer."""
    deliveries = Api.of(url, key, project).pages(f"/v1/sends/{send_id}/deliveries", limit=500)
    show(deliveries, as_json, TRAIL_COLUMNS)
