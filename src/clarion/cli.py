"""Command line: serve | worker | emulate | migrate | keys | secrets, and the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from clarion import eventloop
from clarion.config import Settings

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Clarion push platform.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
app.add_typer(keys_app, name="keys")

DatabaseOption = typer.Option(
    None, "--database", help="Database URL (default: SQLite file under ./var/)."
)


def _settings(database: str | None, **overrides: object) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        # A bad environment stops the command with its reason, not a traceback.
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            typer.echo(f"clarion: configuration refused: {message}", err=True)
        raise typer.Exit(2) from None
    if database:
        settings.database_url = database
    for name, value in overrides.items():
        if value is not None:
            setattr(settings, name, value)
    return settings


@app.command()
def serve(
    host: str | None = typer.Option(
        None, help="Address to listen on (default: CLARION_HOST, else 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, help="Port to listen on (default: CLARION_PORT, else 8080)."
    ),
    database: str | None = DatabaseOption,
    demo: bool = typer.Option(False, "--demo", help="Prepare and print a demo project and key."),
) -> None:
    """Run the HTTP API and the web console (migrations are applied first)."""
    from clarion.console.server import create_server

    settings = _settings(database, host=host, port=port)
    _log_warnings()
    if demo:
        server = eventloop.run(_serve_demo(settings))
    else:
        typer.echo(
            f"Clarion listening on http://{settings.host}:{settings.port} "
            f"(database: {_redacted(settings)}, event loop: {eventloop.loop_name()}); "
            f"console at http://{settings.host}:{settings.port}/"
        )
        server = _server(create_server(settings, freeze_start_up=True), settings)
        eventloop.run(server.serve())
    if not server.started:
        # uvicorn has logged why (a port already taken, a failing start-up).
        raise typer.Exit(code=3)


def _log_warnings() -> None:
    """Warnings and errors of Clarion's own loggers (provider failures, stuck sends) on stderr."""
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def _server(asgi_app: FastAPI, settings: Settings) -> uvicorn.Server:
    """A uvicorn server for the app; the loop it runs on is `eventloop`'s choice, not uvicorn's."""
    import uvicorn

    from clarion.api.access_log import install_access_logger, uvicorn_log_config

    config = uvicorn.Config(
        asgi_app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        loop="none",
        log_config=uvicorn_log_config(),
    )
    install_access_logger()
    return uvicorn.Server(config)


async def _serve_demo(settings: Settings) -> uvicorn.Server:
    """Emulators, demo data, the API and the console in one process, so everything works offline."""
    from clarion.console.server import create_server
    from clarion.demo import DEMO_IOS_TOKEN, demo_allowlist, prepare_demo
    from clarion.emulators.suite import EmulatorSuite
    from clarion.store.engine import create_engine
    from clarion.store.migrate import upgrade
    from clarion.store.private_files import private_dir
    from clarion.store.secrets import SecretBox, load_or_create_secret

    private_dir(settings.var_dir)
    async with EmulatorSuite(settings.var_dir / "emulators") as emulators:
        settings.extra_ca_file = emulators.ca_file
        # The emulators listen on the loopback interface, which the outbound policy refuses.
        settings.outbound_allowlist = demo_allowlist(settings.outbound_allowlist)
        # SMS fallback goes to the emulator's gateway unless a real provider is configured.
        settings.sms_url = settings.sms_url or emulators.sms.url
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            box = SecretBox(load_or_create_secret(settings.secret_key, settings.var_dir))
            demo = await prepare_demo(engine, settings.var_dir, box, emulators)
        finally:
            await engine.dispose()
        base = f"http://{settings.host}:{settings.port}"
        asgi_app = create_server(settings, emulators=emulators, freeze_start_up=True)
        link = asgi_app.state.console.sign_in_link(demo.api_key)
        auth = f"-H 'Authorization: Bearer {demo.api_key}'"
        body = (
            '{"recipients": {"external_ids": ["' + demo.contact + '"]}, '
            '"content": {"title": "Hello", "body": "From Clarion"}}'
        )
        lines = [
            "",
            f"  Console:    {base}{link}   (signs you in once; then use the key below)",
            f"  URL:        {base}   (API docs: {base}/docs)",
            f"  API key:    {demo.api_key}   (project {demo.project_id}, app {demo.app_id})",
            f"  Database:   {_redacted(settings)} (event loop: {eventloop.loop_name()})",
            f"  Emulators:  APNs {emulators.apns.url}, FCM {emulators.fcm.url}, "
            f"Web Push {emulators.webpush.url}, SMS {emulators.sms.url}",
            f"              pushes received: {emulators.apns.control_url}/_emulator/deliveries",
            f"  Try a send: curl {auth} -H 'Content-Type: application/json' "
            f"-d '{body}' {base}/v1/sends",
            f"  Demo devices of {demo.contact}: iOS token {DEMO_IOS_TOKEN[:8]}..., "
            "an Android phone and a browser",
            "",
        ]
        typer.echo("\n".join(lines))
        server = _server(asgi_app, settings)
        await server.serve()
        return server


@app.command()
def worker(
    database: str | None = DatabaseOption,
    concurrency: int | None = typer.Option(
        None, help="Jobs run at once by this process (default: CLARION_WORKER_CONCURRENCY, 16)."
    ),
    metrics_port: int | None = typer.Option(
        None,
        help="Serve this process's Prometheus metrics on this port "
        "(default: CLARION_METRICS_PORT; none when unset).",
    ),
) -> None:
    """Run delivery workers without the HTTP API (processes may share a PostgreSQL queue)."""
    from clarion.worker_main import run_worker

    settings = _settings(database, worker_concurrency=concurrency, metrics_port=metrics_port)
    typer.echo(f"Clarion worker on {_redacted(settings)} (event loop: {eventloop.loop_name()})")
    eventloop.run(run_worker(settings))


@app.command()
def migrate(database: str | None = DatabaseOption) -> None:
    """Apply the database migrations."""
    from clarion.store.engine import create_engine
    from clarion.store.migrate import upgrade

    settings = _settings(database)

    async def run() -> None:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    eventloop.run(run())
    typer.echo(f"database at {_redacted(settings)} is up to date")


@keys_app.command("create")
def keys_create(
    project: str = typer.Option(..., help="Project id (created when missing)."),
    scope: str = typer.Option(..., help="Comma-separated scopes: admin,registry,send,read."),
    app_ids: list[str] = typer.Option([], "--app", help="Limit the key to this app (repeatable)."),
    name: str = typer.Option("", help="A label for the key."),
    database: str | None = DatabaseOption,
) -> None:
    """Create an API key and print it once."""
    from clarion.store import keys as key_store
    from clarion.store import projects as project_store
    from clarion.store.engine import create_engine
    from clarion.store.migrate import upgrade

    scopes = [s.strip() for s in scope.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in key_store.SCOPES]
    if not scopes or unknown:
        raise typer.BadParameter(
            f"scopes must be among {', '.join(key_store.SCOPES)}", param_hint="--scope"
        )
    settings = _settings(database)

    async def run() -> str:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                if await project_store.get_project(conn, project) is None:
                    await project_store.create_project(conn, project, project)
                _, plaintext = await key_store.create_key(
                    conn, project, scopes, app_ids or None, name
                )
            return plaintext
        finally:
            await engine.dispose()

    typer.echo(eventloop.run(run()))


def _redacted(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _register_subcommands() -> None:
    from clarion.cli_import import import_command
    from clarion.cli_registry import apps_app, installations_app, projects_app, providers_app
    from clarion.cli_secrets import secrets_app
    from clarion.cli_sends import sends_app
    from clarion.emulators.cli import emulate_command

    app.command("emulate", help="Run the local APNs, FCM, Web Push and SMS emulators.")(
        emulate_command
    )
    app.command("import", help="Import list members from a CSV or JSON file.")(import_command)
    app.add_typer(secrets_app, name="secrets")
    app.add_typer(projects_app, name="projects")
    app.add_typer(apps_app, name="apps")
    app.add_typer(providers_app, name="providers")
    app.add_typer(installations_app, name="installations")
    app.add_typer(sends_app, name="sends")


_register_subcommands()


def main() -> None:
    """Entry point of the `clarion` command."""
    app()


if __name__ == "__main__":
    main()
