"""Command line: clarion serve | worker | emulate | migrate | keys."""

from __future__ import annotations

import asyncio

import typer

from clarion.config import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Clarion push platform.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
app.add_typer(keys_app, name="keys")

DatabaseOption = typer.Option(
    None, "--database", help="Database URL (default: SQLite file under ./var/)."
)


def _settings(database: str | None, **overrides: object) -> Settings:
    settings = Settings()
    if database:
        settings.database_url = database
    for name, value in overrides.items():
        if value is not None:
            setattr(settings, name, value)
    return settings


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    database: str | None = DatabaseOption,
    demo: bool = typer.Option(False, "--demo", help="Prepare and print a demo project and key."),
) -> None:
    """Run the HTTP API (migrations are applied first)."""
    import uvicorn

    from clarion.api.app import create_app

    settings = _settings(database, host=host, port=port)
    if demo:
        _print_demo(settings)
    typer.echo(f"Clarion listening on http://{host}:{port} (database: {_redacted(settings)})")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _print_demo(settings: Settings) -> None:
    from clarion.demo import prepare_demo
    from clarion.store.engine import create_engine
    from clarion.store.migrate import upgrade

    async def run() -> None:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            demo = await prepare_demo(engine, settings.var_dir)
        finally:
            await engine.dispose()
        base = f"http://{settings.host}:{settings.port}"
        typer.echo("")
        typer.echo(f"  URL:      {base}   (API docs: {base}/docs)")
        typer.echo(f"  API key:  {demo.api_key}   (project {demo.project_id})")
        typer.echo(f"  App:      {demo.app_id}")
        typer.echo(f"  Try:      curl -H 'Authorization: Bearer {demo.api_key}' {base}/v1/apps")
        typer.echo("")

    asyncio.run(run())


@app.command()
def worker(
    database: str | None = DatabaseOption,
    concurrency: int = typer.Option(16, help="Jobs run at once by this process."),
) -> None:
    """Run delivery workers without the HTTP API (processes may share a PostgreSQL queue)."""
    from clarion.worker_main import run_worker

    settings = _settings(database, worker_concurrency=concurrency)
    typer.echo(f"Clarion worker on {_redacted(settings)}")
    asyncio.run(run_worker(settings))


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

    asyncio.run(run())
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

    typer.echo(asyncio.run(run()))


def _redacted(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _register_emulate() -> None:
    from clarion.emulators.cli import emulate_command

    app.command("emulate", help="Run the local APNs, FCM, Web Push and SMS emulators.")(
        emulate_command
    )


_register_emulate()


def main() -> None:
    """Entry point of the `clarion` command."""
    app()


if __name__ == "__main__":
    main()
