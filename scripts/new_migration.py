"""Generate an Alembic revision from the metadata: `python scripts/new_migration.py "message"`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from clarion.store.engine import create_engine
from clarion.store.migrate import alembic_config, upgrade

VERSIONS = Path(__file__).resolve().parent.parent / "src/clarion/store/migrations/versions"


async def generate(message: str) -> None:
    """Upgrade a scratch SQLite database to head, then autogenerate the next revision."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}")
        await upgrade(engine)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head() or "0000"
        next_id = f"{int(head) + 1:04d}"

        def run(connection: Connection) -> None:
            command.revision(
                alembic_config(connection), message=message, autogenerate=True, rev_id=next_id
            )

        async with engine.begin() as connection:
            await connection.run_sync(run)
        await engine.dispose()


def tidy() -> None:
    """Generated code follows the project's style like any other file."""
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "format", str(VERSIONS)], check=True)
    subprocess.run([str(ruff), "check", "--fix", "--quiet", str(VERSIONS)], check=False)


if __name__ == "__main__":
    asyncio.run(generate(" ".join(sys.argv[1:]) or "schema change"))
    tidy()
