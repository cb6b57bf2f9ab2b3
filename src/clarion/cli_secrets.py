"""`clarion secrets rotate`: re-seal stored provider secrets under the first key."""

from __future__ import annotations

import asyncio

import typer

from clarion.config import Settings

secrets_app = typer.Typer(no_args_is_help=True, help="Manage the encryption of provider secrets.")


@secrets_app.command("rotate")
def rotate_command(
    database: str | None = typer.Option(
        None, "--database", help="Database URL (default: SQLite file under ./var/)."
    ),
) -> None:
    """Re-seal every stored provider secret under the first key of CLARION_SECRET_KEY."""
    from clarion.store.engine import create_engine
    from clarion.store.migrate import upgrade
    from clarion.store.secret_rotation import RotationCounts, rotate_secrets
    from clarion.store.secrets import SecretBox, load_or_create_secret

    settings = Settings()
    if database:
        settings.database_url = database
    box = SecretBox(load_or_create_secret(settings.secret_key, settings.var_dir))

    async def run() -> RotationCounts:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            return await rotate_secrets(engine, box)
        finally:
            await engine.dispose()

    counts = asyncio.run(run())
    typer.echo(
        f"re-sealed {counts.resealed}, already under the first key {counts.current}, "
        f"unreadable {len(counts.unreadable)}"
    )
    for secret in counts.unreadable:
        typer.echo(
            f"cannot decrypt the {secret.provider} secret of app {secret.app_id} "
            f"(project {secret.project_id}) with any configured key",
            err=True,
        )
    if counts.unreadable:
        raise typer.Exit(1)
