"""What the dialects read and write in the database, so that no dialect imports store/.

Dialects are translators: they never build SQL or hold a table. The few records they
need (who owns an app, sfmc's message definitions) are reached through these
functions, each in its own connection or transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store import apps as app_store
from clarion.store import sfmc_messages


async def app_project(engine: AsyncEngine, app_id: str) -> str | None:
    """The project owning the app, or None when no app has that id."""
    async with engine.connect() as conn:
        app = await app_store.get_app(conn, app_id)
    return None if app is None else str(app["project_id"])


async def create_definition(
    engine: AsyncEngine, project_id: str, definition: dict[str, Any]
) -> str:
    """Store a new sfmc message definition and return its new id."""
    message_id = sfmc_messages.new_message_id()
    async with engine.begin() as conn:
        await sfmc_messages.insert_message(conn, message_id, project_id, definition)
    return message_id


async def read_definition(
    engine: AsyncEngine, project_id: str, message_id: str
) -> dict[str, Any] | None:
    """The stored definition (without its id) of the project, or None."""
    async with engine.connect() as conn:
        row = await sfmc_messages.get_message(conn, project_id, message_id)
    return None if row is None else dict(row["definition"])


async def replace_definition(
    engine: AsyncEngine, project_id: str, message_id: str, definition: dict[str, Any]
) -> bool:
    """Replace a definition; False when the project has none with that id."""
    async with engine.begin() as conn:
        return await sfmc_messages.replace_message(conn, project_id, message_id, definition)


async def delete_definition(engine: AsyncEngine, project_id: str, message_id: str) -> bool:
    """Remove a definition; False when the project has none with that id."""
    async with engine.begin() as conn:
        return await sfmc_messages.delete_message(conn, project_id, message_id)
