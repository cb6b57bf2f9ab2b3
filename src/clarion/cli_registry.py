"""`clarion projects | apps | providers | installations`: the registry over the HTTP API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from clarion.cli_http import Api, FieldOption, JsonOption, KeyOption, ProjectOption, UrlOption, show

projects_app = typer.Typer(no_args_is_help=True, help="Projects (needs the server admin key).")
apps_app = typer.Typer(no_args_is_help=True, help="Apps of a project.")
providers_app = typer.Typer(
    no_args_is_help=True, help="An app's APNs, FCM and Web Push credentials."
)
installations_app = typer.Typer(no_args_is_help=True, help="Devices registered with an app.")

ReadableFile = typer.Option(..., exists=True, dir_okay=False, readable=True)


def _admin(url: str | None, key: str | None) -> Api:
    return Api.of(url, key or os.environ.get("CLARION_ADMIN_KEY"))


@projects_app.command("create")
def projects_create(
    project_id: str = typer.Argument(..., help="Project id."),
    name: str = typer.Option("", help="Display name (default: the id)."),
    url: str | None = UrlOption,
    key: str | None = typer.Option(None, "--key", envvar="CLARION_ADMIN_KEY"),
    as_json: bool = JsonOption,
) -> None:
    """Create a project."""
    body = {"id": project_id, "name": name or project_id}
    show(_admin(url, key).call("POST", "/v1/projects", body), as_json)


@projects_app.command("list")
def projects_list(
    url: str | None = UrlOption,
    key: str | None = typer.Option(None, "--key", envvar="CLARION_ADMIN_KEY"),
    as_json: bool = JsonOption,
) -> None:
    """List projects."""
    show(_admin(url, key).pages("/v1/projects"), as_json)


@projects_app.command("show")
def projects_show(
    project_id: str,
    url: str | None = UrlOption,
    key: str | None = typer.Option(None, "--key", envvar="CLARION_ADMIN_KEY"),
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one project."""
    show(_admin(url, key).call("GET", f"/v1/projects/{project_id}"), as_json, field=field)


@apps_app.command("create")
def apps_create(
    app_id: str = typer.Argument(..., help="App id (unique on the server)."),
    name: str = typer.Option("", help="Display name (default: the id)."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an app; its public key (for POST /v1/events) is in the answer."""
    body = {"id": app_id, "name": name or app_id}
    show(Api.of(url, key, project).call("POST", "/v1/apps", body), as_json, field=field)


@apps_app.command("list")
def apps_list(
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """List the project's apps."""
    show(Api.of(url, key, project).pages("/v1/apps"), as_json)


@apps_app.command("show")
def apps_show(
    app_id: str,
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one app with the providers it has credentials for."""
    show(Api.of(url, key, project).call("GET", f"/v1/apps/{app_id}"), as_json, field=field)


def _put_provider(
    api: Api, app_id: str, provider: str, body: dict[str, Any], as_json: bool
) -> None:
    show(api.call("PUT", f"/v1/apps/{app_id}/providers/{provider}", body), as_json)


@providers_app.command("apns")
def providers_apns(
    app_id: str,
    team_id: str = typer.Option(..., help="Apple developer team id (10 characters)."),
    key_id: str = typer.Option(..., help="Id of the .p8 key (10 characters)."),
    p8_file: Path = ReadableFile,
    topic: str = typer.Option(..., help="The app's bundle id."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Use APNs' sandbox environment."),
    endpoint: str | None = typer.Option(None, help="Another APNs URL (e.g. the emulator's)."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the app's APNs credentials from a .p8 signing key file."""
    body: dict[str, Any] = {
        "team_id": team_id,
        "key_id": key_id,
        "private_key": p8_file.read_text(),
        "topic": topic,
        "environment": "sandbox" if sandbox else "production",
    }
    if endpoint:
        body["endpoint"] = endpoint
    _put_provider(Api.of(url, key, project), app_id, "apns", body, as_json)


@providers_app.command("fcm")
def providers_fcm(
    app_id: str,
    service_account_file: Path = ReadableFile,
    endpoint: str | None = typer.Option(None, help="Another FCM URL (e.g. the emulator's)."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the app's FCM credentials from a Google service-account JSON file."""
    try:
        account = json.loads(service_account_file.read_text())
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--service-account-file") from None
    body: dict[str, Any] = {"service_account": account}
    if endpoint:
        body["endpoint"] = endpoint
    _put_provider(Api.of(url, key, project), app_id, "fcm", body, as_json)


@providers_app.command("webpush")
def providers_webpush(
    app_id: str,
    subject: str = typer.Option(..., help="VAPID subject: a mailto: or https: contact URL."),
    vapid_private_key_file: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="A P-256 private key PEM (default: one is made)."
    ),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the app's Web Push (VAPID) credentials; prints the public key browsers subscribe with."""
    body: dict[str, Any] = {"subject": subject}
    if vapid_private_key_file is not None:
        body["vapid_private_key"] = vapid_private_key_file.read_text()
    answer = Api.of(url, key, project).call("PUT", f"/v1/apps/{app_id}/providers/webpush", body)
    show(answer, as_json, field=field)


@providers_app.command("show")
def providers_show(
    app_id: str,
    provider: str = typer.Argument(..., help="apns, fcm or webpush."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Show an app's credentials for one provider (never the secret parts)."""
    path = f"/v1/apps/{app_id}/providers/{provider}"
    show(Api.of(url, key, project).call("GET", path), as_json, field=field)


@installations_app.command("register")
def installations_register(
    app_id: str,
    installation_id: str,
    platform: str = typer.Option(..., help="ios, android, web or huawei."),
    token: str | None = typer.Option(None, help="The device token (ios, android, huawei)."),
    subscription_file: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="A browser's PushSubscription JSON (web)."
    ),
    external_id: str | None = typer.Option(None, help="The contact this device belongs to."),
    language: str | None = typer.Option(None, help="BCP 47 language, e.g. en or pt-BR."),
    sandbox: bool = typer.Option(False, "--sandbox", help="A development build (APNs sandbox)."),
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Register (or update) a device of the app."""
    body: dict[str, Any] = {"platform": platform, "sandbox": sandbox}
    if token is not None:
        body["token"] = token
    if subscription_file is not None:
        try:
            body["subscription"] = json.loads(subscription_file.read_text())
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--subscription-file") from None
    if external_id is not None:
        body["external_id"] = external_id
    if language is not None:
        body["language"] = language
    path = f"/v1/apps/{app_id}/installations/{installation_id}"
    show(Api.of(url, key, project).call("PUT", path, body), as_json)


@installations_app.command("list")
def installations_list(
    app_id: str,
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """List the app's installations."""
    found = Api.of(url, key, project).pages(f"/v1/apps/{app_id}/installations")
    columns = ["installation_id", "platform", "external_id", "language", "status", "updated_at"]
    show(found, as_json, [c for c in columns if any(c in row for row in found)] or None)


@installations_app.command("show")
def installations_show(
    app_id: str,
    installation_id: str,
    url: str | None = UrlOption,
    key: str | None = KeyOption,
    project: str | None = ProjectOption,
    field: str | None = FieldOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one installation."""
    path = f"/v1/apps/{app_id}/installations/{installation_id}"
    show(Api.of(url, key, project).call("GET", path), as_json, field=field)
