"""The demo project `make run` prepares: a project, an app and an API key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store import apps as app_store
from clarion.store import keys as key_store
from clarion.store import projects as project_store

DEMO_PROJECT = "demo"
DEMO_APP = "demo-app"


@dataclass(frozen=True)
class Demo:
    """What a newcomer needs to try the API."""

    project_id: str
    app_id: str
    api_key: str


async def prepare_demo(engine: AsyncEngine, var_dir: Path) -> Demo:
    """Create the demo project, app and key once; later runs reuse the saved key."""
    key_file = var_dir / "demo-api-key"
    async with engine.begin() as conn:
        if await project_store.get_project(conn, DEMO_PROJECT) is None:
            await project_store.create_project(conn, DEMO_PROJECT, "Demo project")
        if await app_store.get_app(conn, DEMO_APP) is None:
            await app_store.create_app(conn, DEMO_PROJECT, DEMO_APP, "Demo app")
        if key_file.exists():
            saved = key_file.read_text().strip()
            if await key_store.verify_key(conn, saved) is not None:
                return Demo(DEMO_PROJECT, DEMO_APP, saved)
        _, plaintext = await key_store.create_key(
            conn, DEMO_PROJECT, ["admin"], name="demo key made by `clarion serve --demo`"
        )
    _save_private(key_file, plaintext)
    return Demo(DEMO_PROJECT, DEMO_APP, plaintext)


def _save_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
